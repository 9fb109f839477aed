/**
 * A minimal Socket.IO v4 client (Engine.IO v4, WebSocket transport only) on
 * the same minimal WebSocket client (../lib/raw-ws.ts) as the gmessenger
 * chat sockets, so the load generator spends the same effort per frame on
 * both systems and the comparison measures the servers, not client libraries.
 *
 * Wire format (https://socket.io/docs/v4/socket-io-protocol/): Engine.IO
 * packets `0` open, `2` ping, `3` pong, `4` message; a Socket.IO packet rides
 * in a message: `0` connect, `2` event, `3` ack, `4` connect error, followed
 * by an optional ack id and a JSON array.
 */
import { scanTextSender } from '../lib/gm-transport.js';
import { RawWebSocket } from '../lib/raw-ws.js';
import type { ChatSocket, ChatSocketHandlers, OpenOptions } from '../lib/transport.js';

interface PeerMessage {
  id?: number;
  text?: string;
  sender?: string;
  client_id?: string;
  code?: string;
}

/** Parses `42[...]` / `43<id>[...]` frames into [kind, ackId, args]. */
export function decodePacket(
  frame: string,
): { kind: 'event' | 'ack'; ackId: number; args: unknown[] } | null {
  if (frame.length < 3 || frame[0] !== '4') return null;
  const type = frame[1];
  if (type !== '2' && type !== '3') return null;
  let i = 2;
  while (i < frame.length && frame.charCodeAt(i) >= 48 && frame.charCodeAt(i) <= 57) i++;
  const ackId = i > 2 ? Number(frame.slice(2, i)) : -1;
  const args = JSON.parse(frame.slice(i)) as unknown[];
  return { kind: type === '2' ? 'event' : 'ack', ackId, args };
}

const EVENT_PREFIX = '42["new_message",{"id":';

/**
 * Reads the peer's message frames (`42["new_message",{...}]` and acks
 * `43<n>[{...}]`, fields in the peer server's order) with a strict scanner
 * that gives up (null: use decodePacket) on anything unexpected, escapes
 * included — the same shortcut the gmessenger transport takes for its
 * `new_message` frames, so both systems cost the generator alike.
 */
export function scanPeerMessage(
  frame: string,
): { ack: boolean; id: number; text: string; sender: string; clientId: string | undefined } | null {
  let i: number;
  let ack: boolean;
  if (frame.startsWith(EVENT_PREFIX)) {
    ack = false;
    i = EVENT_PREFIX.length;
  } else if (frame.startsWith('43')) {
    ack = true;
    i = 2;
    while (i < frame.length && frame.charCodeAt(i) >= 48 && frame.charCodeAt(i) <= 57) i++;
    if (!frame.startsWith('[{"id":', i)) return null;
    i += 7;
  } else return null;
  const idEnd = frame.indexOf(',', i);
  const idText = frame.slice(i, idEnd);
  if (idEnd < 0 || !/^[0-9]{1,15}$/.test(idText)) return null;
  i = idEnd;
  if (!frame.startsWith(',"chat":{', i)) return null;
  const chatEnd = frame.indexOf('}', i);
  if (chatEnd < 0 || frame.lastIndexOf('\\', chatEnd) >= i) return null;
  const rest = scanTextSender(frame, chatEnd + 1, '}]');
  return rest && { ack, id: Number(idText), ...rest };
}

/** Encodes an event with an ack id: `42<id>["name",arg]`. */
export function encodeEvent(name: string, arg: unknown, ackId?: number): string {
  return `42${ackId ?? ''}${JSON.stringify([name, arg])}`;
}

/** Connects to a Socket.IO server's default namespace; resolves once the namespace accepted the socket. */
export async function connectSio(
  baseUrl: string,
  query: Record<string, string>,
  h: ChatSocketHandlers,
  o: OpenOptions = {},
): Promise<ChatSocket> {
  const qs = new URLSearchParams({ ...query, EIO: '4', transport: 'websocket' });
  const url = `${baseUrl.replace(/^http/, 'ws')}/socket.io/?${qs.toString()}`;
  let ws: RawWebSocket | null = null;
  // The Engine.IO open packet may arrive with the upgrade response, before `ws` is assigned.
  let openSeen = false;
  let connected = false;
  let settled = false;
  let nextAck = 1;
  let settle!: { resolve: (s: ChatSocket) => void; reject: (err: Error) => void };
  const ready = new Promise<ChatSocket>((resolve, reject) => {
    settle = { resolve, reject };
  });
  const socket: ChatSocket = {
    send(text, clientId) {
      ws?.send(encodeEvent('send_message', { text, client_id: clientId }, nextAck++));
    },
    get bufferedAmount() {
      return ws?.bufferedAmount ?? 0;
    },
    close() {
      ws?.send('41');
      ws?.close();
    },
  };
  const fail = (err: Error) => {
    if (settled) return;
    settled = true;
    ws?.close();
    settle.reject(err);
  };
  const onFrame = (frame: string) => {
    switch (frame[0]) {
      case '0': // engine open: join the default namespace
        if (ws) ws.send('40');
        else openSeen = true;
        return;
      case '2': // engine ping
        ws?.send('3');
        return;
      case '4':
        break;
      default:
        return;
    }
    if (frame[1] === '0') {
      connected = true;
      if (!settled) {
        settled = true;
        settle.resolve(socket);
      }
      return;
    }
    if (frame[1] === '4') {
      fail(new Error(`connect error: ${frame.slice(2)}`));
      return;
    }
    const m = scanPeerMessage(frame);
    if (m) {
      h.onMessage({ id: m.id, text: m.text, sender: m.sender, clientId: m.ack ? m.clientId : undefined });
      return;
    }
    const p = decodePacket(frame);
    if (!p) return;
    if (p.kind === 'event') {
      const [name, arg] = p.args as [string, PeerMessage];
      if (name === 'new_message') {
        h.onMessage({
          id: arg.id ?? -1,
          text: arg.text ?? '',
          sender: arg.sender ?? '',
          clientId: undefined,
        });
      } else if (name === 'error_event') {
        h.onError?.(arg.code ?? 'unknown', arg.client_id);
      }
    } else {
      const arg = p.args[0] as PeerMessage;
      h.onMessage({
        id: arg.id ?? -1,
        text: arg.text ?? '',
        sender: arg.sender ?? '',
        clientId: arg.client_id,
      });
    }
  };
  const timeoutMs = o.timeoutMs ?? 15_000;
  ws = await RawWebSocket.connect(
    url,
    {
      onMessage: (data) => onFrame(data.toString()),
      onClose: (code) => {
        if (!connected) fail(new Error(`closed before connect: ${code}`));
        else h.onClose?.(code);
      },
    },
    { timeoutMs, ...(o.localAddress ? { localAddress: o.localAddress } : {}) },
  );
  if (openSeen) ws.send('40');
  const timer = setTimeout(() => fail(new Error('namespace connect timed out')), timeoutMs);
  try {
    return await ready;
  } finally {
    clearTimeout(timer);
  }
}
