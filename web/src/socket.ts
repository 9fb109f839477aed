/**
 * The one multiplexed WebSocket (`/chats/ws`). It reconnects by itself with
 * exponential backoff and jitter, and tells its owner when a connection opens
 * so the owner can catch up (`?after=`) on whatever it missed meanwhile.
 */
import type { ClientEvent, ServerEvent } from './types.ts';

export type SocketState = 'connecting' | 'open' | 'closed';

export interface SocketHandlers {
  onEvent(ev: ServerEvent): void;
  /** A connection opened; `reconnect` is false only for the first one. */
  onOpen(reconnect: boolean): void;
  onStateChange(state: SocketState): void;
  /** Several attempts in a row failed: the owner may check whether the session still exists. */
  onRepeatedFailure(): void;
}

/** @default base 500 ms, doubling up to 15 s; a connection that lived 5 s resets the backoff. */
const BACKOFF_BASE_MS = 500;
const BACKOFF_CAP_MS = 15_000;
const STABLE_AFTER_MS = 5_000;
const HEARTBEAT_MS = 30_000;

export class ChatSocket {
  private ws: WebSocket | null = null;
  private attempt = 0;
  private opened = false;
  private stopped = false;
  private retryTimer = 0;
  private stableTimer = 0;
  private heartbeatTimer = 0;
  private _state: SocketState = 'closed';

  constructor(
    private readonly url: string,
    private readonly handlers: SocketHandlers,
  ) {
    window.addEventListener('online', this.reconnectNow);
    document.addEventListener('visibilitychange', this.onVisibility);
  }

  get state(): SocketState {
    return this._state;
  }

  start(): void {
    this.stopped = false;
    this.connect();
  }

  /** Closes for good (logout). */
  stop(): void {
    this.stopped = true;
    window.removeEventListener('online', this.reconnectNow);
    document.removeEventListener('visibilitychange', this.onVisibility);
    clearTimeout(this.retryTimer);
    clearTimeout(this.stableTimer);
    clearInterval(this.heartbeatTimer);
    const ws = this.ws;
    this.ws = null;
    if (ws) {
      ws.onclose = null;
      ws.close(1000, 'logout');
    }
    this.setState('closed');
  }

  /** Sends when open; returns false (and sends nothing) otherwise. */
  send(ev: ClientEvent): boolean {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN) return false;
    this.ws.send(JSON.stringify(ev));
    return true;
  }

  private connect(): void {
    if (this.stopped || this.ws) return;
    clearTimeout(this.retryTimer);
    this.setState('connecting');
    let ws: WebSocket;
    try {
      ws = new WebSocket(this.url);
    } catch {
      this.scheduleRetry();
      return;
    }
    this.ws = ws;
    ws.onopen = () => {
      const reconnect = this.opened;
      this.opened = true;
      this.setState('open');
      this.stableTimer = window.setTimeout(() => (this.attempt = 0), STABLE_AFTER_MS);
      this.heartbeatTimer = window.setInterval(() => {
        if (document.visibilityState === 'visible') this.send({ type: 'user_activity', payload: {} });
      }, HEARTBEAT_MS);
      this.handlers.onOpen(reconnect);
    };
    ws.onmessage = (msg: MessageEvent) => {
      if (typeof msg.data !== 'string') return;
      let ev: ServerEvent;
      try {
        ev = JSON.parse(msg.data) as ServerEvent;
      } catch {
        return;
      }
      if (ev && typeof ev.type === 'string' && ev.payload && typeof ev.payload === 'object') {
        this.handlers.onEvent(ev);
      }
    };
    ws.onclose = () => {
      if (this.ws !== ws) return;
      this.ws = null;
      clearTimeout(this.stableTimer);
      clearInterval(this.heartbeatTimer);
      this.scheduleRetry();
    };
  }

  private scheduleRetry(): void {
    if (this.stopped) return;
    this.setState('closed');
    // Exponential backoff with "equal jitter": half the delay fixed, half random,
    // so a restarted gateway is not hit by every client in the same instant.
    const ceiling = Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** this.attempt);
    const delay = ceiling / 2 + Math.random() * (ceiling / 2);
    this.attempt++;
    if (this.attempt === 3 || (this.attempt > 3 && this.attempt % 5 === 0)) this.handlers.onRepeatedFailure();
    this.retryTimer = window.setTimeout(() => this.connect(), delay);
  }

  private readonly reconnectNow = (): void => {
    if (this.stopped || this.ws) return;
    this.attempt = 0;
    this.connect();
  };

  private readonly onVisibility = (): void => {
    if (document.visibilityState === 'visible') this.reconnectNow();
  };

  private setState(state: SocketState): void {
    if (this._state === state) return;
    this._state = state;
    this.handlers.onStateChange(state);
  }
}

/** `ws(s)://<this host>/chats/ws`. */
export function chatsSocketUrl(): string {
  const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${proto}//${location.host}/chats/ws`;
}
