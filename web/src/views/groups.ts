/**
 * Group dialogs: creating a group (public, or private with a member picker)
 * and the member list (roles, presence, add/remove for the owner, join, leave).
 * Both are native modal <dialog>s, which trap focus and close on Escape.
 */
import { api, ApiError } from '../api.ts';
import type { App } from '../app.ts';
import { h, hueClass, initials, setText } from '../dom.ts';
import { presenceText } from '../format.ts';
import type { ChatRef, Member, UserInfo } from '../types.ts';

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function modal(titleId: string, ...children: HTMLElement[]): HTMLDialogElement {
  const d = h('dialog', { class: 'modal', attrs: { 'aria-labelledby': titleId } }, ...children);
  d.addEventListener('close', () => d.remove());
  document.body.append(d);
  return d;
}

/**
 * A search box over `GET /users` whose results are offered as buttons;
 * `pick` is called with the chosen user.
 */
function userPicker(
  id: string,
  label: string,
  exclude: () => Set<string>,
  pick: (u: UserInfo) => void,
): { el: HTMLElement; input: HTMLInputElement } {
  const results = h('ul', { class: 'picker-results', attrs: { 'aria-label': 'Matching people' } });
  let seq = 0;
  let timer = 0;
  const input = h('input', {
    attrs: { id, type: 'search', autocomplete: 'off', spellcheck: 'false', placeholder: 'Login or name' },
    on: {
      input: () => {
        clearTimeout(timer);
        const q = input.value.trim();
        if (!q) {
          seq++;
          results.replaceChildren();
          return;
        }
        timer = window.setTimeout(async () => {
          const mine = ++seq;
          let users: UserInfo[];
          try {
            users = await api.users(q, 10);
          } catch (err) {
            if (mine === seq) results.replaceChildren(h('li', { class: 'muted', text: errorText(err) }));
            return;
          }
          if (mine !== seq) return;
          const skip = exclude();
          const items = users
            .filter((u) => !skip.has(u.login))
            .map((u) =>
              h(
                'li',
                {},
                h(
                  'button',
                  {
                    class: 'result-row',
                    attrs: { type: 'button' },
                    on: {
                      click: () => {
                        pick(u);
                        input.value = '';
                        results.replaceChildren();
                        input.focus();
                      },
                    },
                  },
                  h(
                    'span',
                    { class: `avatar small ${hueClass(u.login)}`, attrs: { 'aria-hidden': 'true' } },
                    initials(u.username),
                  ),
                  h(
                    'span',
                    { class: 'result-text' },
                    h('span', { class: 'chat-name', text: u.username }),
                    h('span', { class: 'muted', text: '@' + u.login }),
                  ),
                ),
              ),
            );
          results.replaceChildren(
            ...(items.length ? items : [h('li', { class: 'muted', text: 'Nobody found' })]),
          );
        }, 180);
      },
    },
  });
  const el = h('div', { class: 'picker' }, h('label', { attrs: { for: id }, text: label }), input, results);
  return { el, input };
}

/** The "New group" dialog. Resolves with the created group's chat, or null when cancelled. */
export function openCreateGroup(app: App, onCreated: (ref: ChatRef) => void): void {
  const selected = new Map<string, string>();
  const name = h('input', {
    attrs: {
      id: 'cg-name',
      required: true,
      maxlength: 64,
      autocomplete: 'off',
      'aria-describedby': 'cg-error',
    },
  });
  const isPublic = h('input', { attrs: { id: 'cg-public', type: 'checkbox' } });
  const chips = h('ul', { class: 'chips', attrs: { 'aria-label': 'Selected members' } });
  const error = h('p', { class: 'form-error', attrs: { id: 'cg-error', role: 'alert' } });
  const renderChips = () => {
    chips.replaceChildren(
      ...[...selected].map(([login, username]) =>
        h(
          'li',
          { class: 'chip' },
          h('span', { text: username }),
          h('button', {
            class: 'chip-remove',
            attrs: { type: 'button', 'aria-label': `Remove ${username}` },
            text: '×',
            on: {
              click: () => {
                selected.delete(login);
                renderChips();
                picker.input.focus();
              },
            },
          }),
        ),
      ),
    );
  };
  const picker = userPicker(
    'cg-member-search',
    'Add members',
    () => new Set([app.me.login, ...selected.keys()]),
    (u) => {
      selected.set(u.login, u.username);
      renderChips();
    },
  );
  const members = h('div', { class: 'members-picker' }, picker.el, chips);
  isPublic.addEventListener('change', () => (members.hidden = isPublic.checked));
  const submit = h('button', { class: 'btn primary', attrs: { type: 'submit' }, text: 'Create' });
  const form = h(
    'form',
    { class: 'modal-form', attrs: { novalidate: true } },
    h('h2', { attrs: { id: 'cg-title' }, text: 'New group' }),
    h('label', { attrs: { for: 'cg-name' }, text: 'Group name' }),
    name,
    h(
      'div',
      { class: 'check' },
      isPublic,
      h('label', { attrs: { for: 'cg-public' }, text: 'Public: anyone can find, read and join it' }),
    ),
    members,
    error,
    h(
      'div',
      { class: 'actions' },
      h('button', {
        class: 'btn ghost',
        attrs: { type: 'button' },
        text: 'Cancel',
        on: { click: () => dlg.close() },
      }),
      submit,
    ),
  );
  const dlg = modal('cg-title', form);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const n = name.value.trim();
    if (!n || [...n].length > 64) {
      setText(error, 'Enter a group name of 1 to 64 characters.');
      name.setAttribute('aria-invalid', 'true');
      name.focus();
      return;
    }
    name.removeAttribute('aria-invalid');
    submit.disabled = true;
    setText(error, '');
    try {
      const g = await api.createGroup(n, isPublic.checked, isPublic.checked ? [] : [...selected.keys()]);
      const chat = app.ensureChat({ type: 'group', id: g.id }, g.name);
      chat.public = g.public;
      dlg.close();
      onCreated({ type: 'group', id: g.id });
    } catch (err) {
      setText(error, errorText(err));
      (err instanceof ApiError && err.field === 'members' ? picker.input : name).focus();
    } finally {
      submit.disabled = false;
    }
  });
  dlg.showModal();
  name.focus();
}

/** The member list of a group, live for presence. */
export function openMembers(app: App, ref: ChatRef, onLeft: (ref: ChatRef) => void): void {
  const key = `group:${ref.id}`;
  const chat = app.chats.get(key);
  let members: Member[] = [];
  const list = h('ul', { class: 'member-list', attrs: { 'aria-label': 'Members' } });
  const status = h('p', { class: 'form-error', attrs: { role: 'alert' } });
  const actions = h('div', { class: 'actions' });
  const addArea = h('div', { class: 'add-member', attrs: { hidden: true } });
  const title = h('h2', { attrs: { id: 'mb-title' }, text: `${chat?.name ?? 'Group'} · members` });
  const closeBtn = h('button', {
    class: 'btn ghost',
    attrs: { type: 'button' },
    text: 'Close',
    on: { click: () => dlg.close() },
  });
  const body = h('div', { class: 'modal-form' }, title, list, addArea, status, actions);
  const dlg = modal('mb-title', body);

  const myRole = () => members.find((m) => m.login === app.me.login)?.role;

  const render = () => {
    const owner = myRole() === 'owner';
    list.replaceChildren(
      ...members.map((m) => {
        const pres = presenceText(m.is_online, m.last_seen);
        return h(
          'li',
          { class: 'member', attrs: { 'data-login': m.login } },
          h(
            'span',
            { class: `avatar small ${hueClass(m.login)}`, attrs: { 'aria-hidden': 'true' } },
            initials(m.username),
            h('span', { class: m.is_online ? 'dot on' : 'dot' }),
          ),
          h(
            'span',
            { class: 'result-text' },
            h('span', {
              class: 'chat-name',
              text: m.login === app.me.login ? `${m.username} (you)` : m.username,
            }),
            h('span', { class: m.is_online ? 'muted online' : 'muted', text: `@${m.login} · ${pres}` }),
          ),
          h('span', { class: `role ${m.role}`, text: m.role }),
          owner && m.login !== app.me.login
            ? h('button', {
                class: 'btn small ghost',
                attrs: { type: 'button', 'aria-label': `Remove ${m.username}` },
                text: 'Remove',
                on: { click: () => void remove(m) },
              })
            : null,
        );
      }),
    );
    addArea.hidden = !owner || !!chat?.public;
    const isMember = myRole() !== undefined;
    actions.replaceChildren(
      ...[
        !isMember && chat?.public
          ? h('button', {
              class: 'btn primary',
              attrs: { type: 'button' },
              text: 'Join group',
              on: { click: () => void join() },
            })
          : null,
        isMember
          ? h('button', {
              class: 'btn danger',
              attrs: { type: 'button' },
              text: 'Leave group',
              on: { click: () => void leave() },
            })
          : null,
        closeBtn,
      ].filter((x): x is HTMLButtonElement => x !== null),
    );
  };

  const picker = userPicker(
    'mb-add',
    'Add a member',
    () => new Set(members.map((m) => m.login)),
    async (u) => {
      try {
        members = await api.addMember(ref.id, u.login);
        setText(status, '');
        render();
      } catch (err) {
        setText(status, errorText(err));
      }
    },
  );
  addArea.append(picker.el);

  const load = async () => {
    try {
      members = await api.members(ref.id);
      setText(status, '');
    } catch (err) {
      setText(status, errorText(err));
    }
    render();
  };
  const remove = async (m: Member) => {
    try {
      await api.removeMember(ref.id, m.login);
      members = members.filter((x) => x.login !== m.login);
      setText(status, '');
      render();
    } catch (err) {
      setText(status, errorText(err));
    }
  };
  const join = async () => {
    try {
      members = await api.addMember(ref.id, app.me.login);
      setText(status, '');
      render();
    } catch (err) {
      setText(status, errorText(err));
    }
  };
  let confirming = false;
  const leave = async () => {
    if (!confirming) {
      confirming = true;
      setText(status, 'Press “Leave group” again to confirm.');
      return;
    }
    try {
      await api.removeMember(ref.id, app.me.login);
      dlg.close();
      onLeft(ref);
    } catch (err) {
      confirming = false;
      setText(status, errorText(err));
    }
  };

  const unsubscribe = app.subscribe((c) => {
    if (c.kind !== 'presence') return;
    const m = members.find((x) => x.login === c.login);
    if (m) {
      m.is_online = c.isOnline;
      m.last_seen = c.lastSeen;
      render();
    }
  });
  dlg.addEventListener('close', unsubscribe);
  render();
  dlg.showModal();
  closeBtn.focus();
  void load();
}
