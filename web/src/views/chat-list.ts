/**
 * The sidebar: the caller's chats (virtualized, newest activity first, live),
 * and a user search over `GET /users` that opens dialogs.
 */
import { api } from '../api.ts';
import type { App, ListedChat } from '../app.ts';
import { h, hueClass, initials, setAttrs, setClass, setText } from '../dom.ts';
import { listTime, presenceText } from '../format.ts';
import type { ChatRef, UserInfo } from '../types.ts';
import { VirtualList } from './virtual-list.ts';

const ROW_HEIGHT = 68;

export class ChatListView {
  readonly el: HTMLElement;
  private readonly list: VirtualList<ListedChat>;
  private readonly scroller = h('div', { class: 'chat-scroller' });
  private readonly results = h('div', { class: 'search-results', attrs: { hidden: true } });
  private readonly status = h('p', { class: 'list-status', attrs: { role: 'status' } });
  private readonly search: HTMLInputElement;
  private searchSeq = 0;
  private searchTimer = 0;
  private activeKey: string | null = null;

  constructor(
    private readonly app: App,
    private readonly onOpen: (ref: ChatRef, name?: string) => void,
    onNewGroup: () => void,
  ) {
    this.search = h('input', {
      class: 'search-input',
      attrs: {
        id: 'user-search',
        type: 'search',
        placeholder: 'Search people',
        autocomplete: 'off',
        spellcheck: 'false',
        'aria-controls': 'search-results',
      },
      on: {
        input: () => this.onSearchInput(),
        keydown: (e) => {
          if (e.key === 'Escape') this.clearSearch();
          if (e.key === 'ArrowDown') {
            e.preventDefault();
            this.focusFirst();
          }
        },
      },
    });
    this.results.id = 'search-results';
    this.list = new VirtualList<ListedChat>(this.scroller, {
      key: (c) => c.key,
      create: () => this.createRow(),
      update: (el, c) => this.updateRow(el, c),
      estimate: () => ROW_HEIGHT,
      stickToEnd: false,
      overscan: ROW_HEIGHT * 6,
      bodyClass: 'chat-list',
      bodyAttrs: { role: 'list', 'aria-label': 'Chats' },
      onRendered: (_first, last) => {
        if (last >= this.list.length - 10) void this.app.loadMoreChats();
      },
    });
    this.list.body.addEventListener('keydown', (e) => this.onListKey(e));
    this.el = h(
      'section',
      { class: 'sidebar-list', attrs: { 'aria-label': 'Chat list' } },
      h(
        'div',
        { class: 'list-toolbar' },
        h('label', {
          class: 'sr-only',
          attrs: { for: 'user-search' },
          text: 'Search people by login or name',
        }),
        this.search,
        h('button', {
          class: 'btn',
          attrs: { type: 'button' },
          text: 'New group',
          on: { click: onNewGroup },
        }),
      ),
      this.results,
      this.status,
      this.scroller,
    );
  }

  setActive(key: string | null): void {
    this.activeKey = key;
  }

  render(): void {
    const chats = this.app.sortedChats();
    this.list.setItems(chats);
    this.list.render();
    const msg = this.app.chatsError
      ? `Could not load chats: ${this.app.chatsError}`
      : chats.length === 0 && !this.app.chatsLoading
        ? 'No chats yet. Search for people above or create a group.'
        : '';
    setText(this.status, msg);
    this.status.hidden = msg === '';
  }

  /** Moves focus to a chat's row (after leaving that chat on a narrow screen). */
  focusRow(key: string): void {
    const i = this.list.indexOfKey(key);
    if (i >= 0) this.focusIndex(i);
  }

  focusSearch(): void {
    this.search.focus();
  }

  private createRow(): HTMLElement {
    const dot = h('span', { class: 'dot', attrs: { 'aria-hidden': 'true' } });
    return h(
      'div',
      { class: 'chat-item', attrs: { role: 'listitem' } },
      h(
        'button',
        { class: 'chat-row', attrs: { type: 'button' } },
        h(
          'span',
          { class: 'avatar', attrs: { 'aria-hidden': 'true' } },
          h('span', { class: 'avatar-text' }),
          dot,
        ),
        h(
          'span',
          { class: 'chat-main' },
          h(
            'span',
            { class: 'chat-line' },
            h('span', { class: 'chat-name' }),
            h('span', { class: 'chat-presence' }),
            h('span', { class: 'chat-time' }),
          ),
          h(
            'span',
            { class: 'chat-line' },
            h('span', { class: 'chat-preview' }),
            h('span', { class: 'badge' }),
          ),
        ),
      ),
    );
  }

  private updateRow(el: HTMLElement, c: ListedChat): void {
    const btn = el.firstElementChild as HTMLButtonElement;
    if (!btn.onclick) {
      btn.onclick = () => {
        const key = el.dataset.key;
        const chat = key ? this.app.chats.get(key) : undefined;
        if (chat) this.onOpen({ type: chat.type, id: chat.id });
      };
    }
    const [avatar, main] = btn.children as unknown as [HTMLElement, HTMLElement];
    const avatarText = avatar.firstElementChild!;
    const dot = avatar.lastElementChild!;
    const [line1, line2] = main.children as unknown as [HTMLElement, HTMLElement];
    const [name, presence, time] = line1.children as unknown as [HTMLElement, HTMLElement, HTMLElement];
    const [preview, badge] = line2.children as unknown as [HTMLElement, HTMLElement];

    const hue = hueClass(c.id);
    if (avatar.dataset.hue !== hue) {
      if (avatar.dataset.hue) avatar.classList.remove(avatar.dataset.hue);
      avatar.classList.add(hue);
      avatar.dataset.hue = hue;
    }
    setClass(avatar, 'group', c.type === 'group');
    setText(avatarText, c.type === 'group' ? '#' : initials(c.name));
    const online = c.type === 'dialog' && !!c.is_online;
    setClass(dot, 'on', online);
    setText(name, c.name);
    const pres = c.type === 'dialog' ? presenceText(c.is_online, c.last_seen) : c.public ? 'public' : '';
    setText(presence, pres === 'offline' ? '' : pres);
    setClass(presence, 'online', online);
    setText(time, listTime(c.last_message_time));
    const typing = c.typing && c.typingUntil > Date.now();
    setText(
      preview,
      typing ? `${c.type === 'group' ? c.typing + ' is ' : ''}typing…` : (c.last_message ?? ''),
    );
    setClass(preview, 'typing', !!typing);
    setText(badge, c.unread > 0 ? (c.unread > 999 ? '999+' : String(c.unread)) : '');
    badge.hidden = c.unread <= 0;
    const active = c.key === this.activeKey;
    setClass(btn, 'active', active);
    setClass(btn, 'has-unread', c.unread > 0);
    const label = [
      c.name,
      c.type === 'group' ? (c.public ? 'public group' : 'group') : pres,
      c.unread > 0 ? `${c.unread} unread` : '',
      c.last_message ? `last message: ${c.last_message.slice(0, 100)}` : '',
    ]
      .filter(Boolean)
      .join(', ');
    setAttrs(btn, { 'aria-label': label, 'aria-current': active ? 'true' : undefined });
  }

  private onListKey(e: KeyboardEvent): void {
    if (e.key !== 'ArrowDown' && e.key !== 'ArrowUp' && e.key !== 'Home' && e.key !== 'End') return;
    const item = (e.target as HTMLElement).closest<HTMLElement>('.chat-item');
    const key = item?.dataset.key;
    if (!key) return;
    e.preventDefault();
    const idx = this.list.indexOfKey(key);
    const n = this.list.length;
    const next =
      e.key === 'ArrowDown'
        ? Math.min(n - 1, idx + 1)
        : e.key === 'ArrowUp'
          ? idx - 1
          : e.key === 'Home'
            ? 0
            : n - 1;
    if (next < 0) {
      this.search.focus();
      return;
    }
    this.focusIndex(next);
  }

  private focusIndex(i: number): void {
    this.list.revealIndex(i);
    this.list.render();
    const c = this.app.sortedChats()[i];
    const el = c && this.list.elementFor(c.key);
    (el?.firstElementChild as HTMLElement | null)?.focus();
  }

  private focusFirst(): void {
    const first = this.results.hidden ? null : this.results.querySelector<HTMLElement>('button');
    if (first) first.focus();
    else if (this.list.length) this.focusIndex(0);
  }

  // ---- search -----------------------------------------------------------------------------------

  private clearSearch(): void {
    this.search.value = '';
    this.onSearchInput();
  }

  private onSearchInput(): void {
    clearTimeout(this.searchTimer);
    const q = this.search.value.trim();
    if (!q) {
      this.searchSeq++;
      this.results.hidden = true;
      this.results.replaceChildren();
      this.scroller.hidden = false;
      return;
    }
    this.searchTimer = window.setTimeout(() => void this.runSearch(q), 180);
  }

  private async runSearch(q: string): Promise<void> {
    const seq = ++this.searchSeq;
    const lower = q.toLowerCase();
    const groups = this.app
      .sortedChats()
      .filter((c) => c.type === 'group' && c.name.toLowerCase().includes(lower))
      .slice(0, 10);
    let users: UserInfo[] = [];
    let error = '';
    try {
      users = await api.users(q, 20);
    } catch (err) {
      error = err instanceof Error ? err.message : String(err);
    }
    if (seq !== this.searchSeq) return;
    const items: HTMLElement[] = [];
    for (const u of users) {
      if (u.login === this.app.me.login) continue;
      this.app.notePresence(u.login, u.is_online, u.last_seen);
      items.push(
        this.resultItem(u.username, `@${u.login} · ${presenceText(u.is_online, u.last_seen)}`, u.login, () =>
          this.onOpen({ type: 'dialog', id: u.login }, u.username),
        ),
      );
    }
    for (const g of groups) {
      items.push(
        this.resultItem(g.name, g.public ? 'public group' : 'group', g.id, () =>
          this.onOpen({ type: 'group', id: g.id }),
        ),
      );
    }
    const heading = h('h2', { class: 'results-heading', attrs: { id: 'results-heading' } });
    heading.textContent = error
      ? `Search failed: ${error}`
      : items.length
        ? 'Results'
        : `Nobody found for “${q}”`;
    this.results.replaceChildren(
      heading,
      h('ul', { class: 'results-list', attrs: { 'aria-labelledby': 'results-heading' } }, ...items),
    );
    this.results.hidden = false;
    this.scroller.hidden = true;
  }

  private resultItem(title: string, sub: string, seed: string, open: () => void): HTMLElement {
    return h(
      'li',
      {},
      h(
        'button',
        {
          class: 'result-row',
          attrs: { type: 'button' },
          on: {
            click: () => {
              open();
              this.clearSearch();
            },
            keydown: (e) => {
              const li = (e.currentTarget as HTMLElement).parentElement;
              if (e.key === 'ArrowDown') {
                e.preventDefault();
                (li?.nextElementSibling?.firstElementChild as HTMLElement | null)?.focus();
              } else if (e.key === 'ArrowUp') {
                e.preventDefault();
                const prev = li?.previousElementSibling?.firstElementChild as HTMLElement | null;
                (prev ?? this.search).focus();
              } else if (e.key === 'Escape') {
                this.clearSearch();
                this.search.focus();
              }
            },
          },
        },
        h(
          'span',
          { class: `avatar small ${hueClass(seed)}`, attrs: { 'aria-hidden': 'true' } },
          initials(title),
        ),
        h(
          'span',
          { class: 'result-text' },
          h('span', { class: 'chat-name', text: title }),
          h('span', { class: 'muted', text: sub }),
        ),
      ),
    );
  }
}
