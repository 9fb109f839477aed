/**
 * The gmessenger side of the client abstraction: the public API of API.md
 * (POST /groups, the per-chat WebSocket endpoints with `?token=`) spoken with
 * the `ws` client.
 */
import WebSocket from 'ws';
import { expectOk, request } from './http.js';
import type {
  BenchUser,
  ChatSocket,
  ChatSocketHandlers,
  MessageEvent,
  OpenOptions,
  Transport,
  TransportSpec,
} from './transport.js';

/** Options every load-tool socket uses: no compression, no UTF-8 validation of received frames. */
export const WS_CLIENT_OPTIONS = { perMessageDeflate: false, skipUTF8Validation: true } as const;

interface ServerEvent {
  type?: string;
  payload?: {
    id?: number;
    text?: string;
    sender?: string;
    client_id?: string;
    code?: string;
  };
}

/**
 * Opens a WebSocket; resolves once open, rejects with the HTTP status when
 * the upgrade is refused, or on timeout.
 */
export function openSocket(url: string, o: OpenOptions = {}): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, {
      ...WS_CLIENT_OPTIONS,
      handshakeTimeout: o.timeoutMs ?? 15_000,
      ...(o.localAddress ? { localAddress: o.localAddress } : {}),
    });
    const onError = (err: Error) => {
      ws.removeAllListeners();
      ws.on('error', () => {});
      reject(err);
    };
    ws.once('error', onError);
    ws.once('unexpected-response', (req, res) => {
      req.destroy();
      onError(new Error(`upgrade refused: ${res.statusCode ?? 0}`));
    });
    ws.once('open', () => {
      ws.removeListener('error', onError);
      ws.on('error', () => {});
      resolve(ws);
    });
  });
}

function wrap(ws: WebSocket, h: ChatSocketHandlers): ChatSocket {
  ws.on('message', (data: Buffer) => {
    const ev = JSON.parse(data.toString()) as ServerEvent;
    const p = ev.payload;
    if (!p) return;
    if (ev.type !== 'new_message' && ev.type !== 'error') {
      h.onOther?.(ev.type ?? '');
      return;
    }
    if (ev.type === 'new_message') {
      const m: MessageEvent = {
        id: p.id ?? -1,
        text: p.text ?? '',
        sender: p.sender ?? '',
        clientId: p.client_id,
      };
      h.onMessage(m);
    } else if (ev.type === 'error') {
      h.onError?.(p.code ?? 'unknown', p.client_id);
    }
  });
  ws.on('close', (code: number) => h.onClose?.(code));
  return {
    send(text, clientId) {
      ws.send(`{"type":"send_message","payload":${JSON.stringify({ text, client_id: clientId })}}`);
    },
    get bufferedAmount() {
      return ws.bufferedAmount;
    },
    close() {
      ws.close();
    },
  };
}

export class GmTransport implements Transport {
  readonly name = 'gmessenger';
  readonly spec: TransportSpec;

  constructor(
    readonly httpUrls: string[],
    readonly wsUrls: string[],
  ) {
    if (httpUrls.length === 0 || httpUrls.length !== wsUrls.length)
      throw new Error('need matching HTTP and WS URLs');
    this.spec = { kind: 'gmessenger', httpUrls, wsUrls };
  }

  get nodes(): number {
    return this.wsUrls.length;
  }

  private ws(node: number): string {
    return this.wsUrls[node % this.wsUrls.length]!;
  }

  async createGroup(owner: BenchUser, members: BenchUser[]): Promise<string> {
    const res = expectOk(
      await request('POST', `${this.httpUrls[0]}/groups`, {
        token: owner.token,
        body: { name: `bench ${owner.login}`, public: false, members: members.map((m) => m.login) },
      }),
      'POST /groups',
    );
    const id = (JSON.parse(res.text) as { id?: unknown }).id;
    if (typeof id !== 'string') throw new Error(`POST /groups: no id in ${res.text.slice(0, 200)}`);
    return id;
  }

  async openDialog(
    user: BenchUser,
    peer: string,
    node: number,
    h: ChatSocketHandlers,
    o?: OpenOptions,
  ): Promise<ChatSocket> {
    const url = `${this.ws(node)}/dialog/${encodeURIComponent(peer)}/ws?token=${encodeURIComponent(user.token)}`;
    return wrap(await openSocket(url, o), h);
  }

  async openGroup(
    user: BenchUser,
    groupId: string,
    node: number,
    h: ChatSocketHandlers,
    o?: OpenOptions,
  ): Promise<ChatSocket> {
    const url = `${this.ws(node)}/group/${encodeURIComponent(groupId)}/ws?token=${encodeURIComponent(user.token)}`;
    return wrap(await openSocket(url, o), h);
  }
}
