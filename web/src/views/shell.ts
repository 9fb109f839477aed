/**
 * The signed-in screen: sidebar (chat list) and the open chat side by side,
 * or one at a time on narrow screens. All state changes funnel into one
 * animation-frame flush, so a burst of events costs one DOM update per frame.
 */
import { App, type Change } from '../app.ts';
import { FrameTask, h, hueClass, initials, setClass, setText } from '../dom.ts';
import { chatKey, type ChatRef, type Me } from '../types.ts';
import { ChatListView } from './chat-list.ts';
import { ChatView } from './chat-view.ts';
import { openCreateGroup, openMembers } from './groups.ts';

const SOCKET_TEXT = { open: 'Connected', connecting: 'Connecting…', closed: 'Reconnecting…' } as const;

export class Shell {
  readonly app: App;
  private readonly root: HTMLElement;
  private readonly list: ChatListView;
  private readonly chat: ChatView;
  private readonly connState = h('span', { class: 'conn-state', attrs: { role: 'status' } });
  private readonly announcer = h('div', {
    class: 'sr-only',
    attrs: { 'aria-live': 'polite', 'aria-atomic': 'true' },
  });
  private listDirty = true;
  private chatDirty = true;
  private readonly frame = new FrameTask(() => this.flush());
  private clock = 0;
  private announceTimer = 0;
  private incoming: { sender: string; text: string }[] = [];

  constructor(
    private readonly host: HTMLElement,
    me: Me,
    private readonly onLogout: () => void,
  ) {
    this.app = new App(me);
    this.list = new ChatListView(
      this.app,
      (ref, name) => this.openChat(ref, name),
      () => openCreateGroup(this.app, (ref) => this.openChat(ref)),
    );
    this.chat = new ChatView(this.app, {
      back: () => this.closeChat(),
      members: (ref) =>
        openMembers(this.app, ref, (left) => {
          const c = this.app.chats.get(chatKey(left));
          if (c && !c.public) this.app.dropChat(chatKey(left));
          else void this.app.refreshChats();
        }),
    });
    const header = h(
      'header',
      { class: 'sidebar-header' },
      h(
        'span',
        { class: `avatar ${hueClass(me.login)}`, attrs: { 'aria-hidden': 'true' } },
        initials(me.username),
      ),
      h(
        'div',
        { class: 'me' },
        h('span', { class: 'me-name', text: me.username }),
        h('span', { class: 'muted', text: '@' + me.login }),
        this.connState,
      ),
      h('button', {
        class: 'btn ghost',
        attrs: { type: 'button' },
        text: 'Log out',
        on: { click: () => void this.logout() },
      }),
    );
    this.root = h(
      'div',
      { class: 'shell' },
      h('aside', { class: 'sidebar', attrs: { 'aria-label': 'Chats' } }, header, this.list.el),
      h('main', { class: 'main', attrs: { id: 'main' } }, this.chat.el),
      this.announcer,
    );
    host.replaceChildren(this.root);
    this.app.subscribe((c) => this.onChange(c));
    window.addEventListener('hashchange', this.onHash);
    document.addEventListener('visibilitychange', this.onVisible);
    this.clock = window.setInterval(() => {
      // Relative times ("last seen 5 min ago") and typing indicators age.
      this.listDirty = true;
      this.chatDirty = true;
      this.frame.request();
    }, 15_000);
    this.app.start();
    this.onHash();
    this.frame.request();
  }

  destroy(): void {
    window.removeEventListener('hashchange', this.onHash);
    document.removeEventListener('visibilitychange', this.onVisible);
    clearInterval(this.clock);
    clearTimeout(this.announceTimer);
    this.frame.cancel();
    this.app.stop();
  }

  private async logout(): Promise<void> {
    try {
      await this.app.logout();
    } catch {
      // Even when the server cannot be told, this browser forgets the session view.
    }
    this.destroy();
    history.replaceState(null, '', '/');
    this.onLogout();
  }

  private onChange(c: Change): void {
    switch (c.kind) {
      case 'list':
        this.listDirty = true;
        // The header shows presence and typing from the list entry.
        if (this.chat.openKey) this.chatDirty = true;
        break;
      case 'chat':
        if (c.key === this.chat.openKey) this.chatDirty = true;
        break;
      case 'socket':
        setText(this.connState, SOCKET_TEXT[c.state]);
        setClass(this.connState, 'offline', c.state !== 'open');
        return;
      case 'incoming':
        if (c.key === this.chat.openKey) this.announce(c.sender, c.text);
        return;
      case 'closed':
        if (c.key === this.chat.openKey) this.closeChat();
        return;
      default:
        return;
    }
    this.frame.request();
  }

  private flush(): void {
    // The chat first: marking what is on screen as read updates unread counts before the list draws.
    if (this.chatDirty) {
      this.chatDirty = false;
      this.chat.render();
    }
    if (this.listDirty) {
      this.listDirty = false;
      this.list.render();
    }
  }

  /** Back in view: what is on screen now counts as read. */
  private readonly onVisible = (): void => {
    if (document.visibilityState !== 'visible') return;
    this.chatDirty = true;
    this.frame.request();
  };

  /** Screen readers hear new messages of the open chat, summarized when they come fast. */
  private announce(sender: string, text: string): void {
    this.incoming.push({ sender, text });
    if (this.announceTimer) return;
    this.announceTimer = window.setTimeout(() => {
      this.announceTimer = 0;
      const batch = this.incoming;
      this.incoming = [];
      const first = batch[0];
      if (!first) return;
      this.announcer.textContent =
        batch.length === 1 ? `${first.sender}: ${first.text.slice(0, 200)}` : `${batch.length} new messages`;
    }, 1000);
  }

  openChat(ref: ChatRef, name?: string): void {
    const key = chatKey(ref);
    this.app.ensureChat(ref, name);
    this.chat.show(ref);
    this.list.setActive(key);
    this.root.classList.add('chat-open');
    const hash = `#/${ref.type}/${encodeURIComponent(ref.id)}`;
    if (location.hash !== hash) history.replaceState(null, '', hash);
    this.listDirty = true;
    this.chatDirty = true;
    this.frame.request();
    this.chat.focusComposer();
    this.app.open(ref).catch((err: unknown) => {
      this.chat.setError(err instanceof Error ? err.message : String(err));
    });
  }

  private closeChat(): void {
    const key = this.chat.openKey;
    this.app.close();
    this.chat.show(null);
    this.list.setActive(null);
    this.root.classList.remove('chat-open');
    history.replaceState(null, '', location.pathname);
    this.listDirty = true;
    this.frame.request();
    if (key) this.list.focusRow(key);
  }

  private readonly onHash = (): void => {
    const m = /^#\/(dialog|group)\/(.+)$/.exec(location.hash);
    if (!m) return;
    const ref: ChatRef = { type: m[1] as ChatRef['type'], id: decodeURIComponent(m[2]!) };
    if (chatKey(ref) !== this.chat.openKey) this.openChat(ref);
  };
}
