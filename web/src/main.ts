/**
 * Entry point: with a session, the messenger; without one, sign in / register. The server says which
 * in the page itself, so neither case starts with a request that may fail.
 */
import './styles.css';
import { api, ApiError, setUnauthorizedHandler } from './api.ts';
import { h } from './dom.ts';
import type { Me } from './types.ts';
import { showAuth } from './views/auth.ts';
import { Shell } from './views/shell.ts';

const root = document.getElementById('app')!;
let shell: Shell | null = null;

function signedIn(me: Me): void {
  shell?.destroy();
  shell = new Shell(root, me, signedOut);
}

function signedOut(): void {
  shell = null;
  showAuth(root, signedIn);
}

setUnauthorizedHandler(() => {
  if (!shell) return;
  shell.destroy();
  shell = null;
  showAuth(root, signedIn);
});

/**
 * What the server wrote into the page about the session (gateway/static.ts): `me` for a live
 * session, null for none; undefined when the page has no such block (then ask GET /me). Read once.
 */
function bootstrapped(): Me | null | undefined {
  const el = document.getElementById('gm-bootstrap');
  if (!el) return undefined;
  el.remove();
  try {
    const data = JSON.parse(el.textContent ?? '') as { me?: Me | null };
    return data.me === undefined ? undefined : data.me;
  } catch {
    return undefined;
  }
}

async function boot(): Promise<void> {
  const known = bootstrapped();
  if (known !== undefined) {
    // The server already said: no request that could fail, and a signed-in page goes straight to its chats.
    if (known) signedIn(known);
    else signedOut();
    return;
  }
  try {
    signedIn(await api.me());
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) {
      signedOut();
      return;
    }
    const retry = h('button', { class: 'btn primary', attrs: { type: 'button' }, text: 'Try again' });
    retry.addEventListener('click', () => void boot());
    root.replaceChildren(
      h(
        'main',
        { class: 'auth', attrs: { id: 'main' } },
        h(
          'div',
          { class: 'auth-form', attrs: { role: 'alert' } },
          h('h1', { class: 'brand', text: 'gmessenger' }),
          h('p', { text: err instanceof Error ? err.message : String(err) }),
          retry,
        ),
      ),
    );
  }
}

void boot();
