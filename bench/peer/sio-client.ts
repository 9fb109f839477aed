/**
 * A minimal Socket.IO v4 client (Engine.IO v4, WebSocket transport only) on
 * the `ws` package — the same WebSocket client the gmessenger transport uses,
 * so the load generator spends the same effort per frame on both systems and
 * the comparison measures the servers, not the client libraries.
 *
 * Wire format (https://socket.io/docs/v4/socket-io-protocol/): Engine.IO
 * packets `0` open, `2` ping, `3` pong, `4` message; a Socket.IO packet rides
 * in a message: `0` connect, `2` event, `3` ack, `4` connect error, followed
 * by an optional ack id and a JSON array.
 */
import WebSocket from 'ws';
import { WS_CLIENT_OPTIONS } from '../lib/gm-transport.js';
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

/** Encodes an event with an ack id: `42<id>["name",arg]`. */
export function encodeEvent(name: string, arg: unknown, ackId?: number): string {
  return `42${ackId ?? ''}${JSON.stringify([name, arg])}`;
}

/** Connects to a Socket.IO server's default namespace; resolves once the namespace accepted the socket. */
export function connectSio(
  baseUrl: string,
  query: Record<string, string>,
  h: ChatSocketHandlers,
  o: OpenOptions = {},
): Promise<ChatSocket> {
  const qs = new URLSearchParams({ ...query, EIO: '4', transport: 'websocket' });
  const url = `${baseUrl.replace(/^http/, 'ws')}/socket.io/?${qs.toString()}`;
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, {
      ...WS_CLIENT_OPTIONS,
      handshakeTimeout: o.timeoutMs ?? 15_000,
      ...(o.localAddress ? { localAddress: o.localAddress } : {}),
    });
    let connected = false;
    let nextAck = 1;
    const fail = (err: Error) => {
      if (connected) return;
      connected = true;
      ws.removeAllListeners('message');
      ws.terminate();
      reject(err);
    };
    const socket: ChatSocket = {
      send(text, clientId) {
        ws.send(encodeEvent('send_message', { text, client_id: clientId }, nextAck++));
      },
      get bufferedAmount() {
        return ws.bufferedAmount;
      },
      close() {
        if (ws.readyState === WebSocket.OPEN) ws.send('41');
        ws.close();
      },
    };
    ws.on('error', (err) => fail(err));
    ws.once('unexpected-response', (req, res) => {
      req.destroy();
      fail(new Error(`upgrade refused: ${res.statusCode ?? 0}`));
    });
    ws.on('close', (code: number) => {
      if (!connected) fail(new Error(`closed before connect: ${code}`));
      else h.onClose?.(code);
    });
    ws.on('message', (data: Buffer) => {
      const frame = data.toString();
      switch (frame[0]) {
        case '0': // engine open: join the default namespace
          ws.send('40');
          return;
        case '2': // engine ping
          ws.send('3');
          return;
        case '4':
          break;
        default:
          return;
      }
      if (frame[1] === '0') {
        connected = true;
        resolve(socket);
        return;
      }
      if (frame[1] === '4') {
        fail(new Error(`connect error: ${frame.slice(2)}`));
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
    });
  });
}
