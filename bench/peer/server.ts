/**
 * One node of the Socket.IO peer baseline: the chat workload of gmessenger
 * (dialog and group rooms, send with an acknowledgement, delivery to every
 * other member) on a plain Socket.IO server with the Redis Streams adapter,
 * without persistence, authentication or statuses.
 *
 * Clients connect with the query `user=<login>&kind=dialog|group&chat=<peer
 * login or group id>`. `send_message` `{text, client_id}` is broadcast as
 * `new_message` `{id, chat, text, sender, time}` to the room's other sockets
 * on every node, and acknowledged to the sender with the same object plus its
 * `client_id`. Ids count per room in the node that received the send, which
 * is exact in this workload (a room's sender lives on one node).
 *
 * Run by bench/peer/cluster.ts as a child process: PORT, REDIS_URL; it
 * reports `{port}` over IPC once listening and exits on SIGTERM.
 */
import http from 'node:http';
import { createAdapter } from '@socket.io/redis-streams-adapter';
import { Redis } from 'ioredis';
import { Server } from 'socket.io';

const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const port = Number(process.env.PORT ?? 0);

const redis = new Redis(redisUrl, { lazyConnect: false });
const httpServer = http.createServer();
const io = new Server(httpServer, {
  adapter: createAdapter(redis, { streamName: process.env.STREAM_NAME ?? 'socket.io' }),
  serveClient: false,
  cors: { origin: false },
});

const lastIds = new Map<string, number>();

function roomOf(user: string, kind: string, chat: string): string {
  if (kind === 'group') return `g:${chat}`;
  return user < chat ? `d:${user}:${chat}` : `d:${chat}:${user}`;
}

io.on('connection', (socket) => {
  const q = socket.handshake.query;
  const user = String(q.user ?? '');
  const kind = String(q.kind ?? 'dialog');
  const chat = String(q.chat ?? '');
  if (!user || !chat) {
    socket.disconnect(true);
    return;
  }
  const room = roomOf(user, kind, chat);
  void socket.join(room);
  socket.on('send_message', (payload: { text?: unknown; client_id?: unknown }, ack?: unknown) => {
    const text = typeof payload?.text === 'string' ? payload.text : '';
    if (text.length === 0 || text.length > 4096) {
      socket.emit('error_event', { code: 'invalid_field', client_id: payload?.client_id });
      return;
    }
    const id = (lastIds.get(room) ?? 0) + 1;
    lastIds.set(room, id);
    const msg = {
      id,
      chat: { type: kind, id: kind === 'group' ? chat : user },
      text,
      sender: user,
      time: new Date().toISOString(),
    };
    socket.to(room).emit('new_message', msg);
    if (typeof ack === 'function') (ack as (m: object) => void)({ ...msg, client_id: payload.client_id });
  });
});

httpServer.listen(port, '127.0.0.1', () => {
  const address = httpServer.address();
  const bound = typeof address === 'object' && address ? address.port : port;
  if (process.send) process.send({ port: bound });
  else console.log(`listening on ${bound}`);
});

const shutdown = (): void => {
  void io.close();
  redis.disconnect();
  setTimeout(() => process.exit(0), 200).unref();
};
process.once('SIGTERM', shutdown);
process.once('SIGINT', shutdown);
