/**
 * The gmessenger side of the client abstraction: the public API of API.md
 * (POST /groups, the per-chat WebSocket endpoints with `?token=`). Chat
 * sockets use the lightweight client of raw-ws.ts (the receiving hot path of
 * the fan-out and dialog scenarios); `openSocket` (the `ws` client) serves the
 * other scenarios.
 */
import WebSocket from 'ws';
import { expectOk, request } from './http.js';
import { RawWebSocket } from './raw-ws.js';
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

/** A server frame as the load tools need it. */
export type ServerFrame =
  | { kind: 'message'; message: MessageEvent }
  | { kind: 'error'; code: string; clientId: string | undefined }
  | { kind: 'other'; type: string };

const TYPE_PREFIX = '{"type":"';
const MESSAGE_PREFIX = '{"type":"new_message","payload":{"chat":{';

/**
 * Reads a server frame. `new_message` frames in the server's field order are
 * read by a strict scanner that gives up (and leaves the frame to JSON.parse)
 * on anything unexpected, escapes included; other event types are told by
 * their leading `type` field. The result is the same as JSON.parse's.
 */
export function parseServerFrame(data: Buffer): ServerFrame | null {
  const s = data.toString();
  if (s.startsWith(MESSAGE_PREFIX)) {
    const message = scanMessage(s);
    if (message) return { kind: 'message', message };
  } else if (s.startsWith(TYPE_PREFIX)) {
    const end = s.indexOf('"', TYPE_PREFIX.length);
    const type = s.slice(TYPE_PREFIX.length, end);
    if (end > 0 && type !== 'error' && type !== 'new_message' && /^[a-z_]+$/.test(type) && s[end + 1] === ',')
      return s.includes('"payload":{', end) ? { kind: 'other', type } : null;
  }
  return parseJson(s);
}

function parseJson(s: string): ServerFrame | null {
  const ev = JSON.parse(s) as ServerEvent;
  const p = ev.payload;
  if (!p) return null;
  if (ev.type === 'new_message') {
    return {
      kind: 'message',
      message: { id: p.id ?? -1, text: p.text ?? '', sender: p.sender ?? '', clientId: p.client_id },
    };
  }
  if (ev.type === 'error') return { kind: 'error', code: p.code ?? 'unknown', clientId: p.client_id };
  return { kind: 'other', type: ev.type ?? '' };
}

/** The string value starting at `from` (just after its opening quote), or null if it holds an escape. */
function plainString(s: string, from: number): string | null {
  const end = s.indexOf('"', from);
  if (end < 0) return null;
  const slash = s.indexOf('\\', from);
  if (slash >= 0 && slash < end) return null;
  return s.slice(from, end);
}

/** `{"type":"new_message","payload":{"chat":{...},"id":N,"text":"...","sender":"...",...}}` or null. */
function scanMessage(s: string): MessageEvent | null {
  // The chat object holds two plain strings (type and id), no nested objects.
  const chatEnd = s.indexOf('}', MESSAGE_PREFIX.length);
  if (chatEnd < 0 || s.lastIndexOf('\\', chatEnd) >= MESSAGE_PREFIX.length) return null;
  let i = chatEnd + 1;
  if (!s.startsWith(',"id":', i)) return null;
  i += 6;
  const idEnd = s.indexOf(',', i);
  const idText = s.slice(i, idEnd);
  if (idEnd < 0 || !/^[0-9]{1,15}$/.test(idText)) return null;
  i = idEnd;
  const rest = scanTextSender(s, i, '}}');
  return rest && { id: Number(idText), ...rest };
}

/**
 * The `,"text":"...","sender":"..."` fields at `i` and the optional plain
 * `"client_id"` after them, in a frame that must end with `closing`; null on
 * anything unexpected (escapes included). Shared by the message scanners of
 * both benchmarked systems, so they cost the generator alike.
 */
export function scanTextSender(
  s: string,
  i: number,
  closing: string,
): { text: string; sender: string; clientId: string | undefined } | null {
  if (!s.startsWith(',"text":"', i)) return null;
  const text = plainString(s, i + 9);
  if (text === null) return null;
  i += 9 + text.length + 1;
  if (!s.startsWith(',"sender":"', i)) return null;
  const sender = plainString(s, i + 11);
  if (sender === null) return null;
  i += 11 + sender.length + 1;
  // The remaining fields are plain strings; only client_id matters.
  let clientId: string | undefined;
  const at = s.indexOf(',"client_id":"', i);
  if (at >= 0) {
    const value = plainString(s, at + 14);
    if (value === null) return null;
    clientId = value;
  } else if (s.includes('\\', i)) {
    return null;
  }
  if (!s.endsWith(closing)) return null;
  return { text, sender, clientId };
}

/** Opens a chat socket with the lightweight client, reporting its frames to `h`. */
async function openChat(url: string, h: ChatSocketHandlers, o: OpenOptions = {}): Promise<ChatSocket> {
  const ws = await RawWebSocket.connect(
    url,
    {
      onMessage(data) {
        const frame = parseServerFrame(data);
        if (!frame) return;
        if (frame.kind === 'message') h.onMessage(frame.message);
        else if (frame.kind === 'error') h.onError?.(frame.code, frame.clientId);
        else h.onOther?.(frame.type);
      },
      onClose: (code) => h.onClose?.(code),
    },
    { timeoutMs: o.timeoutMs ?? 15_000, ...(o.localAddress ? { localAddress: o.localAddress } : {}) },
  );
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
    return openChat(url, h, o);
  }

  async openGroup(
    user: BenchUser,
    groupId: string,
    node: number,
    h: ChatSocketHandlers,
    o?: OpenOptions,
  ): Promise<ChatSocket> {
    const url = `${this.ws(node)}/group/${encodeURIComponent(groupId)}/ws?token=${encodeURIComponent(user.token)}`;
    return openChat(url, h, o);
  }
}
