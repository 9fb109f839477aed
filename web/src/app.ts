/**
 * The client's state and the rules that keep it consistent with the server:
 * the chat list, a small cache of message windows, the socket, catch-up after
 * reconnects, optimistic sends, read marks, typing and presence. Views read
 * this state and subscribe to {@link Change}s; they never talk to the network.
 */
import { api, ApiError } from './api.ts';
import { ChatMessages, type Row } from './messages.ts';
import { ChatSocket, chatsSocketUrl, type SocketState } from './socket.ts';
import {
  chatKey,
  type Chat,
  type ChatRef,
  type Me,
  type Message,
  type NewMessageEvent,
  type ServerEvent,
} from './types.ts';

export interface ListedChat extends Chat {
  key: string;
  /** Login of someone typing right now, and until when it is shown. */
  typing: string | null;
  typingUntil: number;
}

export type Change =
  | { kind: 'list' }
  | { kind: 'chat'; key: string }
  | { kind: 'presence'; login: string; isOnline: boolean; lastSeen: string | null }
  | { kind: 'socket'; state: SocketState }
  | { kind: 'incoming'; key: string; sender: string; text: string }
  | { kind: 'closed'; key: string }
  | { kind: 'logout' };

/** Message windows kept for recently opened chats. @default 8 */
const CACHED_CHATS = 8;
/** A send not acknowledged within this time is shown as failed. @default 10 s */
const ACK_TIMEOUT_MS = 10_000;
const TYPING_SHOW_MS = 5_000;
const TYPING_SEND_EVERY_MS = 2_500;
const READ_FLUSH_MS = 250;
const PAGE = 100;
const CATCHUP_PAGE = 500;
const CATCHUP_MAX_PAGES = 10;

export class App {
  readonly chats = new Map<string, ListedChat>();
  /** Recently opened chats' windows, least recently used first. */
  private readonly windows = new Map<string, ChatMessages>();
  openKey: string | null = null;
  /** Whether the reader of the open chat is at its live end (set by the chat view). */
  readerAtEnd = true;
  nextChatsPage: string | null = null;
  chatsLoading = false;
  chatsError: string | null = null;

  private sorted: ListedChat[] | null = null;
  private readonly listeners = new Set<(c: Change) => void>();
  private readonly socket: ChatSocket;
  private readonly pendingReads = new Map<string, number>();
  private readTimer = 0;
  private ackTimer = 0;
  private refreshTimer = 0;
  private readonly typingSentAt = new Map<string, number>();
  private readonly collator = new Intl.Collator(undefined, { sensitivity: 'base', numeric: true });

  constructor(readonly me: Me) {
    this.socket = new ChatSocket(chatsSocketUrl(), {
      onEvent: (ev) => this.onEvent(ev),
      onOpen: () => void this.onSocketOpen(),
      onStateChange: (state) => this.emit({ kind: 'socket', state }),
      onRepeatedFailure: () => void this.checkSession(),
    });
  }

  get socketState(): SocketState {
    return this.socket.state;
  }

  subscribe(fn: (c: Change) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  private emit(c: Change): void {
    for (const fn of this.listeners) fn(c);
  }

  start(): void {
    this.socket.start();
    void this.refreshChats();
    this.ackTimer = window.setInterval(() => this.expireSends(), 1000);
  }

  stop(): void {
    this.socket.stop();
    clearInterval(this.ackTimer);
    clearTimeout(this.readTimer);
    clearTimeout(this.refreshTimer);
    this.listeners.clear();
  }

  async logout(): Promise<void> {
    try {
      await api.logout();
    } catch (err) {
      // A session that is already gone is logged out all the same.
      if (!(err instanceof ApiError) || err.status !== 401) throw err;
    }
    this.stop();
  }

  private async checkSession(): Promise<void> {
    try {
      await api.me();
    } catch {
      // A 401 reaches the unauthorized handler; anything else means the server is still away.
    }
  }

  // ---- chat list -------------------------------------------------------------------------------

  /** Chats with messages first, newest activity first; then the rest by name. */
  sortedChats(): ListedChat[] {
    if (!this.sorted) {
      const withTime = (c: ListedChat) => (c.last_message_time ? Date.parse(c.last_message_time) : NaN);
      this.sorted = [...this.chats.values()].sort((a, b) => {
        const ta = withTime(a);
        const tb = withTime(b);
        const ha = !Number.isNaN(ta);
        const hb = !Number.isNaN(tb);
        if (ha !== hb) return ha ? -1 : 1;
        if (ha && hb && ta !== tb) return tb - ta;
        if (ha && hb) return (b.last_message_id ?? 0) - (a.last_message_id ?? 0);
        return this.collator.compare(a.name, b.name) || a.key.localeCompare(b.key);
      });
    }
    return this.sorted;
  }

  private listChanged(): void {
    this.sorted = null;
    this.emit({ kind: 'list' });
  }

  /** Loads the first page of the chat list again and merges it with live state. */
  async refreshChats(): Promise<void> {
    this.chatsLoading = true;
    try {
      const page = await api.chats();
      this.chatsError = null;
      const seen = new Set<string>();
      for (const c of page.items) seen.add(this.upsertChat(c));
      if (!page.next) {
        // The whole list arrived: chats missing from it are gone (left, removed).
        for (const key of [...this.chats.keys()]) {
          if (!seen.has(key) && key !== this.openKey) this.chats.delete(key);
        }
      }
      if (this.nextChatsPage === null || !page.next) this.nextChatsPage = page.next;
    } catch (err) {
      this.chatsError = err instanceof Error ? err.message : String(err);
    } finally {
      this.chatsLoading = false;
      this.listChanged();
    }
  }

  /** Loads the next page of the chat list (when the list is scrolled near its end). */
  async loadMoreChats(): Promise<void> {
    if (!this.nextChatsPage || this.chatsLoading) return;
    this.chatsLoading = true;
    try {
      const page = await api.chats(this.nextChatsPage);
      for (const c of page.items) this.upsertChat(c);
      this.nextChatsPage = page.next;
    } catch (err) {
      this.chatsError = err instanceof Error ? err.message : String(err);
    } finally {
      this.chatsLoading = false;
      this.listChanged();
    }
  }

  private upsertChat(c: Chat): string {
    const key = chatKey(c);
    const cur = this.chats.get(key);
    if (!cur) {
      this.chats.set(key, { ...c, key, typing: null, typingUntil: 0 });
      return key;
    }
    cur.name = c.name;
    cur.public = c.public;
    if (c.is_online !== undefined) cur.is_online = c.is_online;
    if (c.last_seen !== undefined) cur.last_seen = c.last_seen;
    // Live events may be newer than the listing; keep whichever saw the later message.
    if ((c.last_message_id ?? 0) >= (cur.last_message_id ?? 0)) {
      cur.last_message = c.last_message;
      cur.last_message_id = c.last_message_id;
      cur.last_message_time = c.last_message_time;
      cur.unread = c.unread;
      const w = this.windows.get(key);
      if (w && w.readSent >= (c.last_message_id ?? 0)) cur.unread = 0;
    }
    return key;
  }

  /** The list entry of a chat, created from what is known when it is not listed yet. */
  ensureChat(ref: ChatRef, name?: string): ListedChat {
    const key = chatKey(ref);
    let c = this.chats.get(key);
    if (!c) {
      c = {
        type: ref.type,
        id: ref.id,
        key,
        name: name ?? ref.id,
        last_message: null,
        last_message_id: null,
        last_message_time: null,
        unread: 0,
        typing: null,
        typingUntil: 0,
      };
      if (ref.type === 'dialog') {
        c.is_online = false;
        c.last_seen = null;
      }
      this.chats.set(key, c);
      this.listChanged();
      if (!name) this.scheduleRefresh();
    }
    return c;
  }

  private scheduleRefresh(): void {
    if (this.refreshTimer) return;
    this.refreshTimer = window.setTimeout(() => {
      this.refreshTimer = 0;
      void this.refreshChats();
    }, 800);
  }

  /** Forgets a chat the caller left or was removed from. */
  dropChat(key: string): void {
    this.chats.delete(key);
    this.windows.delete(key);
    if (this.openKey === key) {
      this.openKey = null;
      this.emit({ kind: 'closed', key });
    }
    this.listChanged();
  }

  // ---- message windows -------------------------------------------------------------------------

  window(key: string): ChatMessages | undefined {
    return this.windows.get(key);
  }

  /** Opens a chat: its window comes from the cache or is loaded (newest page). */
  async open(ref: ChatRef): Promise<void> {
    const key = chatKey(ref);
    this.ensureChat(ref);
    this.openKey = key;
    this.readerAtEnd = true;
    let w = this.windows.get(key);
    if (w) {
      this.windows.delete(key);
      this.windows.set(key, w);
    } else {
      w = new ChatMessages(ref, this.me.login);
      this.windows.set(key, w);
      while (this.windows.size > CACHED_CHATS) {
        const oldest = this.windows.keys().next().value as string;
        if (oldest === key) break;
        this.windows.delete(oldest);
      }
    }
    this.emit({ kind: 'chat', key });
    if (ref.type === 'dialog') void this.refreshPresence(ref.id);
    if (!w.loaded) await this.loadInitial(w);
  }

  /** Asks for a user's presence (a dialog was opened; live `user_status` events keep it current after). */
  async refreshPresence(login: string): Promise<void> {
    try {
      const p = await api.presence(login);
      this.notePresence(login, p.is_online, p.last_seen);
    } catch {
      // Presence is decoration; the header keeps what it had.
    }
  }

  /** Records presence learned from any response (search results, member lists, events). */
  notePresence(login: string, isOnline: boolean, lastSeen: string | null): void {
    const c = this.chats.get('dialog:' + login);
    if (c && (c.is_online !== isOnline || c.last_seen !== lastSeen)) {
      c.is_online = isOnline;
      c.last_seen = lastSeen;
      this.emit({ kind: 'list' });
    }
    this.emit({ kind: 'presence', login, isOnline, lastSeen });
  }

  close(): void {
    this.openKey = null;
  }

  private async loadInitial(w: ChatMessages): Promise<void> {
    const key = chatKey(w.chat);
    const page = await api.history(w.chat, { limit: PAGE });
    w.loaded = true;
    w.merge(page.items);
    w.hasOlder = page.next !== null || page.items.length >= PAGE;
    this.noteLatest(key, page.items[page.items.length - 1]);
    this.emit({ kind: 'chat', key });
  }

  /** Loads the page before the window's first message (scrolling up). */
  async loadOlder(key: string): Promise<void> {
    const w = this.windows.get(key);
    if (!w || !w.loaded || !w.hasOlder || w.loadingOlder || !w.items.length) return;
    w.loadingOlder = true;
    this.emit({ kind: 'chat', key });
    try {
      const page = await api.history(w.chat, { before: w.firstId, limit: PAGE });
      w.hasOlder = false;
      w.merge(page.items);
      w.hasOlder = page.next !== null || page.items.length >= PAGE;
      w.trim(false);
    } finally {
      w.loadingOlder = false;
      w.version++;
      this.emit({ kind: 'chat', key });
    }
  }

  /** Loads what follows the window's last message when its end was cut (scrolling back down). */
  async loadNewer(key: string): Promise<void> {
    const w = this.windows.get(key);
    if (!w || !w.hasNewer || w.loadingOlder) return;
    w.loadingOlder = true;
    try {
      await this.catchUp(w);
    } finally {
      w.loadingOlder = false;
      w.version++;
      this.emit({ kind: 'chat', key });
    }
  }

  /**
   * Fetches everything after `from` (`?after=`), in pages. `from` must be an id up to which the
   * window is complete: after a reconnect that is its last id when the connection opened, since
   * live messages arriving meanwhile may already lie beyond the gap.
   */
  private async catchUp(w: ChatMessages, from = w.lastId): Promise<void> {
    const key = chatKey(w.chat);
    if (!w.loaded || !from) {
      await this.loadInitial(w);
      return;
    }
    w.hasNewer = false;
    let after = from;
    for (let i = 0; i < CATCHUP_MAX_PAGES; i++) {
      const page = await api.history(w.chat, { after, limit: CATCHUP_PAGE });
      w.merge(page.items);
      w.trim(key !== this.openKey || this.readerAtEnd);
      this.noteLatest(key, page.items[page.items.length - 1]);
      if (page.items.length < CATCHUP_PAGE) return;
      after = page.items[page.items.length - 1]!.id;
    }
    // Still more: keep the window contiguous up to `after` and fetch the rest when the reader gets there.
    w.cutAfter(after);
  }

  /** Moves the list entry forward when history shows a message newer than it knows. */
  private noteLatest(key: string, m: Message | undefined): void {
    const c = this.chats.get(key);
    if (!m || !c || (c.last_message_id ?? 0) >= m.id) return;
    c.last_message = m.text;
    c.last_message_id = m.id;
    c.last_message_time = m.time;
    this.listChanged();
  }

  // ---- socket events ---------------------------------------------------------------------------

  private async onSocketOpen(): Promise<void> {
    // Taken before anything arrives on the new socket: each window is complete up to here.
    const from = [...this.windows.values()].map((w) => [w, w.lastId] as const);
    this.resendPending();
    this.flushReads();
    void this.refreshChats();
    for (const [w, lastId] of from) {
      try {
        await this.catchUp(w, lastId);
        this.emit({ kind: 'chat', key: chatKey(w.chat) });
      } catch {
        // The next reconnect catches up again; nothing is marked as received until it is.
      }
    }
  }

  private onEvent(ev: ServerEvent): void {
    switch (ev.type) {
      case 'new_message':
        this.onNewMessage(ev.payload);
        break;
      case 'message_status': {
        const key = chatKey(ev.payload.chat);
        const w = this.windows.get(key);
        if (w) {
          const v = w.version;
          w.applyStatus(ev.payload.id, ev.payload.status);
          if (w.version !== v) this.emit({ kind: 'chat', key });
        }
        break;
      }
      case 'user_status':
        this.notePresence(ev.payload.user_login, ev.payload.is_online, ev.payload.last_seen);
        break;
      case 'typing': {
        const p = ev.payload;
        if (p.user_login === this.me.login) break;
        const c = this.chats.get(chatKey(p.chat));
        if (!c) break;
        c.typing = p.user_login;
        c.typingUntil = Date.now() + TYPING_SHOW_MS;
        this.emit({ kind: 'list' });
        window.setTimeout(() => {
          if (c.typingUntil <= Date.now() && c.typing) {
            c.typing = null;
            this.emit({ kind: 'list' });
          }
        }, TYPING_SHOW_MS + 50);
        break;
      }
      case 'error': {
        const p = ev.payload;
        if (p.client_id) this.failSend(p.client_id, p.message || p.code, false);
        break;
      }
    }
  }

  private onNewMessage(m: NewMessageEvent): void {
    const key = chatKey(m.chat);
    const isNew = !this.chats.has(key);
    const c = this.ensureChat(m.chat, isNew && m.chat.type === 'dialog' ? m.chat.id : undefined);
    if (isNew) this.scheduleRefresh();
    const fromOther = m.sender !== this.me.login;
    if ((c.last_message_id ?? 0) < m.id) {
      c.last_message = m.text;
      c.last_message_id = m.id;
      c.last_message_time = m.time;
      if (fromOther) c.unread++;
      this.sorted = null;
    }
    if (fromOther && c.typing === m.sender) c.typing = null;
    const w = this.windows.get(key);
    if (w) {
      w.merge([m], m.client_id);
      w.trim(key !== this.openKey || this.readerAtEnd);
      if (w.readSent >= m.id) c.unread = 0;
      this.emit({ kind: 'chat', key });
    }
    this.emit({ kind: 'list' });
    if (fromOther) this.emit({ kind: 'incoming', key, sender: m.sender, text: m.text });
  }

  // ---- sending ---------------------------------------------------------------------------------

  /** Sends a message optimistically: it shows at once and is confirmed by its `new_message`. */
  send(key: string, text: string): void {
    const w = this.windows.get(key);
    if (!w) return;
    const clientId = crypto.randomUUID();
    const row: Row = {
      key: 'c:' + clientId,
      id: 0,
      sender: this.me.login,
      text,
      time: new Date().toISOString(),
      status: 'sent',
      clientId,
      pending: 'sending',
      sentAt: Date.now(),
    };
    w.addPending(row);
    this.typingSentAt.delete(key);
    this.socket.send({ type: 'send_message', payload: { text, client_id: clientId, chat: w.chat } });
    this.emit({ kind: 'chat', key });
  }

  /** Sends a failed message again with the same client_id (the server never stores it twice). */
  retry(key: string, clientId: string): void {
    const w = this.windows.get(key);
    const row = w?.setPendingState(clientId, 'sending');
    if (!w || !row) return;
    row.sentAt = Date.now();
    this.socket.send({
      type: 'send_message',
      payload: { text: row.text, client_id: clientId, chat: w.chat },
    });
    this.emit({ kind: 'chat', key });
  }

  /** Drops a failed message from view. */
  discard(key: string, clientId: string): void {
    const w = this.windows.get(key);
    if (!w) return;
    const i = w.pending.findIndex((p) => p.clientId === clientId);
    if (i < 0) return;
    w.pending.splice(i, 1);
    w.version++;
    this.emit({ kind: 'chat', key });
  }

  private resendPending(): void {
    for (const [key, w] of this.windows) {
      for (const row of w.pending) {
        // Sends that failed for lack of a connection go out again; rejected ones wait for Retry.
        if (row.pending === 'sending' || row.error === NO_CONNECTION) {
          row.pending = 'sending';
          row.error = undefined;
          row.sentAt = Date.now();
          this.socket.send({
            type: 'send_message',
            payload: { text: row.text, client_id: row.clientId!, chat: w.chat },
          });
          w.version++;
          this.emit({ kind: 'chat', key });
        }
      }
    }
  }

  private expireSends(): void {
    const now = Date.now();
    for (const [key, w] of this.windows) {
      for (const row of w.pending) {
        if (row.pending === 'sending' && now - (row.sentAt ?? now) > ACK_TIMEOUT_MS) {
          row.pending = 'failed';
          row.error = NO_CONNECTION;
          w.version++;
          this.emit({ kind: 'chat', key });
        }
      }
    }
  }

  private failSend(clientId: string, message: string, _retryable: boolean): void {
    for (const [key, w] of this.windows) {
      if (w.setPendingState(clientId, 'failed', message)) {
        this.emit({ kind: 'chat', key });
        return;
      }
    }
  }

  // ---- read marks and typing -------------------------------------------------------------------

  /** The reader has seen everything up to `id` in chat `key`. Sent batched, at most every 250 ms. */
  markRead(key: string, id: number): void {
    const w = this.windows.get(key);
    if (!w || id <= w.readSent) return;
    w.readSent = id;
    const c = this.chats.get(key);
    if (c) {
      // With the live end held the count is exact; otherwise the next listing refreshes it.
      const unread = w.hasNewer ? c.unread : w.unreadAfter(id);
      if (unread !== c.unread) {
        c.unread = unread;
        this.emit({ kind: 'list' });
      }
    }
    this.pendingReads.set(key, id);
    if (!this.readTimer) this.readTimer = window.setTimeout(() => this.flushReads(), READ_FLUSH_MS);
  }

  private flushReads(): void {
    this.readTimer = 0;
    for (const [key, id] of this.pendingReads) {
      const w = this.windows.get(key);
      const chat = w?.chat ?? this.chats.get(key);
      if (!chat) {
        this.pendingReads.delete(key);
        continue;
      }
      if (this.socket.send({ type: 'read', payload: { id, chat: { type: chat.type, id: chat.id } } })) {
        this.pendingReads.delete(key);
      }
    }
  }

  /** The user is typing in chat `key`; tells the others at most every 2.5 s. */
  typing(key: string): void {
    const c = this.chats.get(key);
    if (!c) return;
    const now = Date.now();
    if (now - (this.typingSentAt.get(key) ?? 0) < TYPING_SEND_EVERY_MS) return;
    this.typingSentAt.set(key, now);
    this.socket.send({ type: 'typing', payload: { chat: { type: c.type, id: c.id } } });
  }
}

/** The error shown on a send that timed out without a connection; such sends go out again on reconnect. */
export const NO_CONNECTION = 'Not sent yet: no connection to the server';
