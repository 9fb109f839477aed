/**
 * The gateway's local sockets and how inbox events reach them: the socket
 * registry (sockets.ts), corked write batching (socket-writer.ts), ordered
 * exactly-once delivery per chat (ordered.ts) and rendering (render.ts). The
 * hub turns each inbox entry into frames for the sockets it is for.
 *
 * An event for many sockets is serialized once per gateway and the same bytes
 * go to every socket; a dialog's frames differ per side, rendered once each.
 */
import type { Logger } from '../common/logger.js';
import { deliverySeconds, messagesDelivered } from '../common/metrics.js';
import type { InboxEntry } from '../delivery/index.js';
import type { Conn, Frame } from './conn.js';
import { OrderedDelivery, type FetchAfter } from './ordered.js';
import { chatFrames, chatRef, eventJson, sharedFrame } from './render.js';
import { SocketWriter } from './socket-writer.js';
import { SocketRegistry } from './sockets.js';

export type { Conn, Frame } from './conn.js';

export interface HubHooks {
  /** Fetches messages of a chat after `after` as rendered new_message JSON per id (for gap repair). */
  fetchAfter: FetchAfter;
  /** A message reached a recipient socket (advances the delivered mark). */
  delivered(chatId: string, login: string, id: number): void;
}

export class Hub {
  /** The open sockets. */
  readonly sockets = new SocketRegistry();
  /** Writes frames to sockets, corked per batch. */
  readonly out: SocketWriter;
  /** Each socket's per-chat cursor and hold-back. */
  readonly ordered: OrderedDelivery;

  constructor(
    private readonly hooks: HubHooks,
    private readonly logger: Logger,
  ) {
    this.out = new SocketWriter(logger);
    this.ordered = new OrderedDelivery(
      (conn, frame) => this.out.write(conn, frame),
      (conn, chatId, after) => hooks.fetchAfter(conn, chatId, after),
      logger,
    );
  }

  /** Pushes one inbox entry to the local sockets it is for. */
  dispatch(entry: InboxEntry): void {
    const targets = this.sockets.targets(entry);
    if (targets.length === 0) return;
    let payload: Record<string, unknown>;
    try {
      payload = entry.data ?? (JSON.parse(entry.payload) as Record<string, unknown>);
    } catch {
      this.logger.warn({ type: entry.type }, 'dropping malformed inbox entry');
      return;
    }
    switch (entry.type) {
      case 'new_message':
        this.dispatchMessage(entry, payload, targets);
        return;
      case 'message_status': {
        const except = payload.except;
        delete payload.except;
        const render = chatFrames(entry.chatId, (chat) => eventJson('message_status', { chat, ...payload }));
        for (const c of targets) {
          if (c.login === except) continue;
          this.out.write(c, render(c.login));
        }
        return;
      }
      case 'typing': {
        const render = chatFrames(entry.chatId, (chat) => eventJson('typing', { chat, ...payload }));
        for (const c of targets) {
          if (c.login === payload.user_login || c.id === entry.excludeConn) continue;
          this.out.write(c, render(c.login));
        }
        return;
      }
      case 'user_status': {
        const frame = sharedFrame(eventJson('user_status', payload), targets.length);
        for (const c of targets) this.out.write(c, frame);
        return;
      }
    }
  }

  private dispatchMessage(entry: InboxEntry, payload: Record<string, unknown>, targets: Conn[]): void {
    const id = Number(payload.id);
    const sender = String(payload.sender);
    const clientId = payload.client_id;
    delete payload.client_id;
    // Group chats render the same frame for every non-sender (serialized once, sent as shared bytes);
    // dialogs differ per side.
    const isDialog = entry.chatId.startsWith('d:');
    let shared: Frame | null = null;
    let perSocket: Map<string, Frame> | null = null;
    const now = Date.now();
    const latency = entry.storedAtMs ? Math.max(0, now - entry.storedAtMs) / 1000 : -1;
    let delivered = 0;
    for (const c of targets) {
      if (c.id === entry.excludeConn) continue;
      const isSender = c.login === sender;
      let frame: Frame | undefined;
      if (!isSender && !isDialog) {
        shared ??= sharedFrame(
          eventJson('new_message', { chat: chatRef(entry.chatId, c.login), ...payload }),
          2,
        );
        frame = shared;
      } else {
        perSocket ??= new Map();
        const key = isSender ? `s:${c.login}` : `r:${c.login}`;
        frame = perSocket.get(key);
        if (!frame) {
          const body: Record<string, unknown> = { chat: chatRef(entry.chatId, c.login), ...payload };
          if (isSender && clientId) body.client_id = clientId;
          frame = eventJson('new_message', body);
          perSocket.set(key, frame);
        }
      }
      if (this.ordered.deliver(c, entry.chatId, id, frame) && !isSender) {
        this.hooks.delivered(entry.chatId, c.login, id);
        delivered++;
        if (latency >= 0) deliverySeconds.observe(latency);
      }
    }
    if (delivered > 0) messagesDelivered.inc(delivered);
  }
}
