/**
 * The open chat: header with presence or typing, the virtualized message
 * history (older pages load when scrolled to the top), read marks for what is
 * on screen, and the send box.
 */
import type { App } from '../app.ts';
import { h, hueClass, initials, setAttrs, setClass, setText } from '../dom.ts';
import { charCount, clockTime, longTime, presenceText } from '../format.ts';
import type { Row } from '../messages.ts';
import { chatKey, MAX_TEXT, type ChatRef } from '../types.ts';
import { VirtualList } from './virtual-list.ts';

const TICKS: Record<string, { text: string; label: string }> = {
  sending: { text: '◷', label: 'sending' },
  failed: { text: '!', label: 'not sent' },
  sent: { text: '✓', label: 'sent' },
  delivered: { text: '✓✓', label: 'delivered' },
  read: { text: '✓✓', label: 'read' },
};

export interface ChatViewCallbacks {
  back(): void;
  members(ref: ChatRef): void;
}

export class ChatView {
  readonly el: HTMLElement;
  private key: string | null = null;
  private list: VirtualList<Row> | null = null;
  private renderedVersion = -1;
  private readonly drafts = new Map<string, string>();

  private readonly avatar = h('span', { class: 'avatar', attrs: { 'aria-hidden': 'true' } });
  private readonly title = h('h2', { class: 'chat-title', attrs: { id: 'chat-title' } });
  private readonly subtitle = h('p', { class: 'chat-subtitle', attrs: { 'aria-live': 'polite' } });
  private readonly membersBtn: HTMLButtonElement;
  private readonly scroller = h('div', {
    class: 'msg-scroller',
    attrs: { tabindex: '0', role: 'region', 'aria-labelledby': 'chat-title', 'aria-describedby': 'msg-hint' },
  });
  private readonly loadingOlder = h('div', { class: 'loading-older', attrs: { role: 'status' } });
  private readonly jump: HTMLButtonElement;
  private readonly input: HTMLTextAreaElement;
  private readonly counter = h('span', { class: 'counter', attrs: { 'aria-live': 'polite' } });
  private readonly sendError = h('p', { class: 'form-error', attrs: { role: 'alert', id: 'send-error' } });
  private readonly emptyState = h(
    'div',
    { class: 'empty-state' },
    h('p', { text: 'Select a chat to start messaging.' }),
  );
  private readonly pane: HTMLElement;

  constructor(
    private readonly app: App,
    private readonly cb: ChatViewCallbacks,
  ) {
    this.membersBtn = h('button', {
      class: 'btn ghost',
      text: 'Members',
      attrs: { type: 'button' },
      on: {
        click: () => {
          const c = this.key ? this.app.chats.get(this.key) : undefined;
          if (c) this.cb.members({ type: c.type, id: c.id });
        },
      },
    });
    this.jump = h('button', {
      class: 'jump-latest',
      attrs: { type: 'button', hidden: true },
      text: '↓ Latest',
      on: { click: () => this.jumpToLatest() },
    });
    this.input = h('textarea', {
      class: 'composer-input',
      attrs: {
        id: 'composer',
        rows: 1,
        placeholder: 'Write a message…',
        'aria-describedby': 'send-error',
        autocomplete: 'off',
      },
      on: {
        keydown: (e) => this.onComposerKey(e),
        input: () => this.onComposerInput(),
      },
    });
    const header = h(
      'header',
      { class: 'chat-header' },
      h('button', {
        class: 'btn ghost back',
        attrs: { type: 'button', 'aria-label': 'Back to chats' },
        text: '←',
        on: { click: () => this.cb.back() },
      }),
      this.avatar,
      h('div', { class: 'chat-heading' }, this.title, this.subtitle),
      this.membersBtn,
    );
    const composer = h(
      'form',
      {
        class: 'composer',
        attrs: { 'aria-label': 'Send a message' },
        on: {
          submit: (e) => {
            e.preventDefault();
            this.submit();
          },
        },
      },
      h('label', { class: 'sr-only', attrs: { for: 'composer' }, text: 'Message' }),
      this.input,
      this.counter,
      h('button', { class: 'btn primary send', attrs: { type: 'submit' }, text: 'Send' }),
    );
    this.pane = h(
      'div',
      { class: 'chat-pane', attrs: { hidden: true } },
      header,
      h(
        'p',
        { class: 'sr-only', attrs: { id: 'msg-hint' } },
        'Message history. Use arrow keys and Page Up to scroll; older messages load at the top.',
      ),
      h('div', { class: 'msg-area' }, this.loadingOlder, this.scroller, this.jump),
      this.sendError,
      composer,
    );
    this.el = h(
      'section',
      { class: 'chat-view', attrs: { 'aria-label': 'Conversation' } },
      this.emptyState,
      this.pane,
    );
  }

  get openKey(): string | null {
    return this.key;
  }

  /** Shows a chat (or nothing). */
  show(ref: ChatRef | null): void {
    const key = ref ? chatKey(ref) : null;
    if (key === this.key) return;
    if (this.key) this.drafts.set(this.key, this.input.value);
    this.list?.destroy();
    this.list = null;
    this.key = key;
    this.renderedVersion = -1;
    this.pane.hidden = !key;
    this.emptyState.hidden = !!key;
    setText(this.sendError, '');
    if (!key) return;
    this.input.value = this.drafts.get(key) ?? '';
    this.updateCounter();
    this.list = new VirtualList<Row>(this.scroller, {
      key: (r) => r.key,
      create: (r) => this.createRow(r),
      update: (el, r) => this.updateRow(el, r),
      estimate: (r, width) => estimateHeight(r, width),
      stickToEnd: true,
      overscan: 800,
      bodyClass: 'msg-list',
      bodyAttrs: { role: 'list', 'aria-label': 'Messages' },
      onRendered: (first, last) => this.onRendered(first, last),
    });
  }

  /** Shows an error above the send box (e.g. the chat could not be loaded). */
  setError(msg: string): void {
    setText(this.sendError, msg);
  }

  focusComposer(): void {
    this.input.focus();
  }

  render(): void {
    const key = this.key;
    if (!key || !this.list) return;
    const c = this.app.chats.get(key);
    if (c) {
      setText(this.title, c.name);
      const hue = hueClass(c.id);
      this.avatar.className = `avatar ${hue}${c.type === 'group' ? ' group' : ''}`;
      setText(this.avatar, c.type === 'group' ? '#' : initials(c.name));
      const typing = c.typing && c.typingUntil > Date.now();
      let sub: string;
      if (typing) sub = c.type === 'group' ? `${c.typing} is typing…` : 'typing…';
      else if (c.type === 'dialog') sub = presenceText(c.is_online, c.last_seen);
      else sub = c.public ? 'public group' : 'private group';
      setText(this.subtitle, sub);
      setClass(this.subtitle, 'online', c.type === 'dialog' && !!c.is_online && !typing);
      this.membersBtn.hidden = c.type !== 'group';
    }
    const w = this.app.window(key);
    if (!w) return;
    setText(this.loadingOlder, w.loadingOlder ? 'Loading…' : !w.loaded ? 'Loading messages…' : '');
    this.loadingOlder.hidden = !(w.loadingOlder || !w.loaded);
    if (w.version !== this.renderedVersion) {
      this.renderedVersion = w.version;
      this.list.setItems(w.rows());
    }
    this.list.render();
  }

  private onRendered(first: number, last: number): void {
    const key = this.key;
    const w = key ? this.app.window(key) : undefined;
    if (!key || !w || !this.list) return;
    const atEnd = this.list.isAtEnd;
    this.app.readerAtEnd = atEnd;
    this.jump.hidden = atEnd && !w.hasNewer;
    if (first >= 0 && first <= 3 && w.hasOlder && !w.loadingOlder) void this.app.loadOlder(key);
    if (last >= w.items.length - 3 && w.hasNewer && !w.loadingOlder) void this.app.loadNewer(key);
    if (last >= 0 && document.visibilityState === 'visible') {
      const id = w.lastOthersIdUpTo(last);
      if (id > w.readSent) this.app.markRead(key, id);
    }
  }

  private jumpToLatest(): void {
    const key = this.key;
    if (!key || !this.list) return;
    const w = this.app.window(key);
    if (w?.hasNewer) void this.app.loadNewer(key);
    this.list.scrollToEnd();
    this.scroller.focus();
  }

  // ---- rows --------------------------------------------------------------------------------------

  private createRow(r: Row): HTMLElement {
    const c = this.key ? this.app.chats.get(this.key) : undefined;
    const mine = r.sender === this.app.me.login;
    const time = h(
      'time',
      { class: 'msg-time', attrs: { datetime: r.time, title: longTime(r.time) } },
      clockTime(r.time),
    );
    const showSender = c?.type === 'group' && !mine;
    return h(
      'div',
      { class: mine ? 'msg mine' : 'msg theirs', attrs: { role: 'listitem' } },
      h(
        'div',
        { class: 'bubble' },
        showSender ? h('div', { class: `msg-sender ${hueClass(r.sender)}`, text: r.sender }) : null,
        h('div', { class: 'msg-text', text: r.text }),
        h('div', { class: 'msg-meta' }, time, mine ? h('span', { class: 'ticks' }) : null),
      ),
    );
  }

  private updateRow(el: HTMLElement, r: Row): void {
    const state = r.pending ?? r.status;
    if (el.dataset.status === state && el.dataset.error === (r.error ?? '')) return;
    el.dataset.status = state;
    el.dataset.error = r.error ?? '';
    if (r.id) el.dataset.id = String(r.id);
    setClass(el, 'failed', r.pending === 'failed');
    setClass(el, 'sending', r.pending === 'sending');
    const bubble = el.firstElementChild as HTMLElement;
    const ticks = bubble.querySelector('.ticks');
    if (ticks) {
      const t = TICKS[state]!;
      setText(ticks, t.text);
      ticks.className = `ticks ${state}`;
      setAttrs(ticks, { 'aria-label': t.label, title: t.label, role: 'img' });
    }
    let fail = bubble.querySelector<HTMLElement>('.msg-fail');
    if (r.pending === 'failed') {
      if (!fail) {
        const clientId = r.clientId!;
        fail = h(
          'div',
          { class: 'msg-fail' },
          h('span', { class: 'fail-text' }),
          h('button', {
            class: 'btn small',
            attrs: { type: 'button' },
            text: 'Retry',
            on: { click: () => this.key && this.app.retry(this.key, clientId) },
          }),
          h('button', {
            class: 'btn small ghost',
            attrs: { type: 'button' },
            text: 'Delete',
            on: { click: () => this.key && this.app.discard(this.key, clientId) },
          }),
        );
        bubble.append(fail);
      }
      setText(fail.firstElementChild!, r.error ?? 'Not sent');
    } else if (fail) {
      fail.remove();
    }
  }

  // ---- composer ----------------------------------------------------------------------------------

  private onComposerKey(e: KeyboardEvent): void {
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      this.submit();
    } else if (e.key === 'Escape') {
      this.cb.back();
    }
  }

  private onComposerInput(): void {
    this.updateCounter();
    if (this.key && this.input.value.trim()) this.app.typing(this.key);
  }

  private updateCounter(): void {
    const n = charCount(this.input.value);
    const near = n > MAX_TEXT - 200;
    setText(this.counter, near ? `${n}/${MAX_TEXT}` : '');
    setClass(this.counter, 'over', n > MAX_TEXT);
    this.input.setAttribute('aria-invalid', n > MAX_TEXT ? 'true' : 'false');
  }

  private submit(): void {
    const key = this.key;
    if (!key) return;
    const text = this.input.value;
    if (!text.trim()) return;
    const n = charCount(text);
    if (n > MAX_TEXT) {
      setText(this.sendError, `The message is too long: ${n} characters, at most ${MAX_TEXT}.`);
      return;
    }
    setText(this.sendError, '');
    this.app.send(key, text);
    this.input.value = '';
    this.drafts.delete(key);
    this.updateCounter();
    this.list?.scrollToEnd();
  }
}

/** A row's height before it was measured: a bubble line per ~7.5 px of text width. */
function estimateHeight(r: Row, width: number): number {
  const textWidth = Math.max(120, Math.min(width * 0.75, 560) - 24);
  const perLine = Math.max(10, Math.floor(textWidth / 7.5));
  let lines = 0;
  for (const part of r.text.split('\n')) lines += Math.max(1, Math.ceil(part.length / perLine));
  return 38 + Math.min(lines, 200) * 20;
}
