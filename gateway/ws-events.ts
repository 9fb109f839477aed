/**
 * The events a client sends on its WebSocket (API.md "WebSocket"):
 * `send_message`, `read`, `typing`, `user_activity`. Each is validated,
 * routed to the chat's shard, and answered on the socket; a rejected event
 * gets an `error` event, and a client that keeps sending malformed or
 * disallowed events is disconnected.
 */
import type { WebSocket } from 'uWebSockets.js';
import { AppError, toAppError, type ErrorCode } from '../common/errors.js';
import { dialogChatId, GROUP_ID_RE, groupChatId } from '../common/ids.js';
import { wsDropped, wsErrors, wsEventsReceived } from '../common/metrics.js';
import { MarkKind } from '../proto/gen/gmessenger/v1/shard_pb.js';
import type { Conn } from './conn.js';
import { eventJson, messageEvent } from './render.js';
import { expect } from './routes.js';
import type { SendLimits } from './send-limits.js';
import * as v from './validate.js';
import type { WsDeps } from './ws.js';
import type { WsUpgrade } from './ws-upgrade.js';

/** Misbehaviour within this window beyond the budget closes the socket (policy violation). */
const ERROR_WINDOW_MS = 10_000;
const ERROR_BUDGET = 50;
/**
 * Rejections that say nothing about the client's manners: it was merely fast (rate_limited) or the
 * server could not serve it (unavailable, internal). They never count toward the budget, so a client
 * that sends too fast is slowed down, not disconnected, and keeps the acknowledgements in flight.
 */
const NOT_MISBEHAVIOUR: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  'rate_limited',
  'unavailable',
  'internal',
]);
const TYPING_INTERVAL_MS = 2000;

export class WsEvents {
  constructor(
    private readonly deps: WsDeps,
    private readonly upgrades: WsUpgrade,
    private readonly limits: SendLimits,
  ) {}

  message(ws: WebSocket<Conn>, message: ArrayBuffer, isBinary: boolean): void {
    const conn = ws.getUserData();
    if (message.byteLength > this.deps.config.wsMaxFrameBytes) {
      wsDropped.inc({ reason: 'frame_too_large' });
      this.deps.hub.out.end(conn, 1009, 'frame too large');
      return;
    }
    if (isBinary) {
      this.reject(conn, new AppError('invalid_event', 'frames must be text JSON'));
      return;
    }
    let event: unknown;
    try {
      event = JSON.parse(Buffer.from(message).toString('utf8'));
    } catch {
      this.reject(conn, new AppError('invalid_json', 'frame is not valid JSON'));
      return;
    }
    if (!v.isObject(event) || typeof event.type !== 'string') {
      this.reject(conn, new AppError('invalid_event', 'an event is {"type": "...", "payload": {...}}'));
      return;
    }
    const payload = event.payload === undefined ? {} : event.payload;
    if (!v.isObject(payload)) {
      this.reject(conn, new AppError('invalid_event', 'payload must be an object'));
      return;
    }
    const type = event.type === 'send message' ? 'send_message' : event.type;
    switch (type) {
      case 'send_message':
        wsEventsReceived.inc({ type });
        this.sendMessage(conn, payload);
        return;
      case 'read':
        wsEventsReceived.inc({ type });
        this.read(conn, payload);
        return;
      case 'user_activity':
        wsEventsReceived.inc({ type });
        this.deps.presence.markActive(conn.login).catch((err: unknown) => this.reject(conn, err));
        return;
      case 'typing':
        wsEventsReceived.inc({ type });
        this.typing(conn, payload);
        return;
      default:
        wsEventsReceived.inc({ type: 'unknown' });
        this.reject(
          conn,
          new AppError('unknown_type', `unknown event type "${String(event.type).slice(0, 40)}"`),
        );
    }
  }

  /**
   * Reports a rejected event (`rate_limited` with `retry_after_ms`); a client that keeps sending
   * malformed or disallowed events is disconnected.
   */
  private reject(conn: Conn, err: unknown, clientId?: string): void {
    const e = toAppError(err);
    if (e.code === 'internal') this.deps.logger.error({ err, conn: conn.id }, 'websocket event failed');
    wsErrors.inc({ code: e.code });
    const payload: Record<string, unknown> = { code: e.code, message: e.message };
    if (clientId) payload.client_id = clientId;
    if (e.code === 'rate_limited')
      payload.retry_after_ms = Math.max(1, Math.ceil((e.retryAfterS ?? 1) * 1000));
    this.deps.hub.out.write(conn, eventJson('error', payload));
    if (NOT_MISBEHAVIOUR.has(e.code)) return;
    const now = Date.now();
    if (now - conn.errorWindowStart > ERROR_WINDOW_MS) {
      conn.errorWindowStart = now;
      conn.errors = 0;
    }
    if (++conn.errors > ERROR_BUDGET) this.deps.hub.out.end(conn, 1008, 'too many invalid events');
  }

  /** The chat an event is about: the socket's own, or the `chat` field on /chats/ws. */
  private chatOf(conn: Conn, chat: unknown): string {
    if (chat === undefined || chat === null) {
      if (conn.chatId) return conn.chatId;
      throw new AppError('invalid_field', 'chat is required on /chats/ws', 'chat');
    }
    if (
      !v.isObject(chat) ||
      typeof chat.id !== 'string' ||
      (chat.type !== 'dialog' && chat.type !== 'group')
    ) {
      throw new AppError('invalid_field', 'chat must be {"type": "dialog"|"group", "id": "..."}', 'chat');
    }
    let chatId: string;
    if (chat.type === 'dialog') {
      const peer = chat.id.toLowerCase();
      if (!v.LOGIN_RE.test(peer)) throw new AppError('invalid_field', 'chat.id is not a valid login', 'chat');
      if (peer === conn.login) throw new AppError('self_dialog', 'a dialog needs another user', 'chat');
      chatId = dialogChatId(conn.login, peer);
    } else {
      if (!GROUP_ID_RE.test(chat.id)) throw new AppError('group_not_found', 'no such group');
      chatId = groupChatId(chat.id);
    }
    if (conn.chatId && conn.chatId !== chatId) {
      throw new AppError('forbidden', 'this socket is bound to another chat', 'chat');
    }
    return chatId;
  }

  private sendMessage(conn: Conn, payload: Record<string, unknown>): void {
    const rawClientId = typeof payload.client_id === 'string' ? payload.client_id.slice(0, 64) : undefined;
    let chatId: string;
    let text: string;
    let clientId: string;
    try {
      chatId = this.chatOf(conn, payload.chat);
      text = v.messageText(payload.text);
      clientId = v.clientId(payload.client_id);
      this.limits.takeToken(conn.login);
    } catch (err) {
      this.reject(conn, err, rawClientId);
      return;
    }
    const call = () =>
      this.deps.shards.call(
        chatId,
        conn.login,
        {
          case: 'send',
          value: {
            text,
            clientId,
            originConn: conn.id,
            originNode: this.deps.node,
            originSole: this.upgrades.soleSocket(conn),
          },
        },
        !!clientId,
      );
    // Usually allowed from this gateway's reservation at once, without a Redis call or a promise hop. A send
    // that must wait (for budget from Redis, or behind an earlier send of this socket that waits) holds back
    // the socket's later sends, so they reach the shard in the order they were sent.
    const allowed = this.limits.allowed(conn, this.upgrades.addressOf(conn));
    const before = conn.sendGate;
    const gate = before ? before.then(() => allowed) : allowed;
    const sent = gate ? gate.then(call) : call();
    if (gate) {
      const tail = gate.then(noop, noop);
      conn.sendGate = tail;
      void tail.then(() => {
        if (conn.sendGate === tail) conn.sendGate = null;
      });
    }
    sent
      .then((result) => {
        const m = expect(result, 'sent');
        const json = messageEvent(chatId, conn.login, m);
        const hub = this.deps.hub;
        // Queued with this turn's other frames for the socket (one corked write). A retried client_id is
        // acknowledged again even when this socket already has the message.
        hub.out.turn(() => {
          if (!hub.ordered.deliver(conn, chatId, m.id, json) && m.clientId) hub.out.write(conn, json);
        });
      })
      .catch((err: unknown) => this.reject(conn, err, clientId || undefined));
  }

  private read(conn: Conn, payload: Record<string, unknown>): void {
    let chatId: string;
    const id = payload.id;
    try {
      chatId = this.chatOf(conn, payload.chat);
      if (typeof id !== 'number' || !Number.isInteger(id) || id < 1 || id > 4294967295) {
        throw new AppError('invalid_field', 'id must be a positive integer', 'id');
      }
    } catch (err) {
      this.reject(conn, err);
      return;
    }
    this.deps.shards
      .call(chatId, conn.login, { case: 'mark', value: { kind: MarkKind.READ, id } }, true)
      .catch((err: unknown) => this.reject(conn, err));
  }

  private typing(conn: Conn, payload: Record<string, unknown>): void {
    let chatId: string;
    try {
      chatId = this.chatOf(conn, payload.chat);
    } catch (err) {
      this.reject(conn, err);
      return;
    }
    const now = Date.now();
    if (now - (conn.typingAt?.get(chatId) ?? 0) < TYPING_INTERVAL_MS) return;
    (conn.typingAt ??= new Map()).set(chatId, now);
    this.deps.shards
      .call(chatId, conn.login, { case: 'typing', value: {} }, true)
      .catch((err: unknown) => this.reject(conn, err));
  }
}

function noop(): void {}
