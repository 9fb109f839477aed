/**
 * Entry point: with a session, the messenger; without one, sign in / register.
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

async function boot(): Promise<void> {
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
