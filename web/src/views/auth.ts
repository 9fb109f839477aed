/**
 * Sign in and registration. Fields are checked here with the server's rules
 * first; whatever the server still rejects is shown on the field it names.
 */
import { api, ApiError } from '../api.ts';
import { h, setText } from '../dom.ts';
import { charCount } from '../format.ts';
import type { Me } from '../types.ts';

type Mode = 'login' | 'register';

interface Field {
  name: string;
  input: HTMLInputElement;
  error: HTMLElement;
  wrap: HTMLElement;
}

function field(
  mode: Mode,
  name: string,
  label: string,
  attrs: Record<string, string | number | boolean>,
  hint?: string,
): Field {
  const id = `${mode}-${name}`;
  const error = h('p', { class: 'field-error', attrs: { id: `${id}-error` } });
  const hintEl = hint ? h('p', { class: 'field-hint', attrs: { id: `${id}-hint` }, text: hint }) : null;
  const input = h('input', {
    attrs: {
      id,
      name,
      'aria-describedby': [hintEl ? `${id}-hint` : '', `${id}-error`].filter(Boolean).join(' '),
      ...attrs,
    },
  });
  const wrap = h(
    'div',
    { class: 'field' },
    h('label', { attrs: { for: id }, text: label }),
    input,
    hintEl,
    error,
  );
  return { name, input, error, wrap };
}

function setFieldError(f: Field, msg: string): void {
  setText(f.error, msg);
  if (msg) f.input.setAttribute('aria-invalid', 'true');
  else f.input.removeAttribute('aria-invalid');
}

export function validateLogin(v: string): string {
  if (!/^[A-Za-z0-9_.-]{3,32}$/.test(v)) return 'Use 3–32 letters, digits, “_”, “.” or “-”.';
  return '';
}

export function validateUsername(v: string): string {
  const t = v.trim();
  if (!t) return 'Enter your name.';
  if (charCount(t) > 64) return 'At most 64 characters.';
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f-\u009f]/.test(t)) return 'Control characters are not allowed.';
  return '';
}

export function validatePassword(v: string): string {
  const n = charCount(v);
  if (n < 8) return 'Too short: use at least 8 characters.';
  if (n > 128) return 'Too long: use at most 128 characters.';
  return '';
}

/** Renders the sign-in screen into `root`; calls `done` once a session exists. */
export function showAuth(root: HTMLElement, done: (me: Me) => void, initial: Mode = 'login'): void {
  let mode: Mode = initial;
  const container = h('main', { class: 'auth', attrs: { id: 'main' } });
  root.replaceChildren(container);

  const render = () => {
    const register = mode === 'register';
    const fields: Field[] = register
      ? [
          field(mode, 'username', 'Your name', { autocomplete: 'name', maxlength: 64, required: true }),
          field(
            mode,
            'login',
            'Login',
            {
              autocomplete: 'username',
              maxlength: 32,
              required: true,
              spellcheck: 'false',
              autocapitalize: 'none',
            },
            '3–32 characters: letters, digits, _ . -',
          ),
          field(
            mode,
            'password',
            'Password',
            { type: 'password', autocomplete: 'new-password', maxlength: 128, required: true },
            'At least 8 characters.',
          ),
        ]
      : [
          field(mode, 'login', 'Login', {
            autocomplete: 'username',
            maxlength: 32,
            required: true,
            spellcheck: 'false',
            autocapitalize: 'none',
          }),
          field(mode, 'password', 'Password', {
            type: 'password',
            autocomplete: 'current-password',
            required: true,
          }),
        ];
    const byName = new Map(fields.map((f) => [f.name, f]));
    const formError = h('p', { class: 'form-error', attrs: { role: 'alert', id: 'auth-error' } });
    const submit = h('button', {
      class: 'btn primary wide',
      attrs: { type: 'submit' },
      text: register ? 'Create account' : 'Sign in',
    });
    const form = h(
      'form',
      { class: 'auth-form', attrs: { novalidate: true, 'aria-labelledby': 'auth-title' } },
      h('h1', { class: 'brand', text: 'gmessenger' }),
      h('h2', { attrs: { id: 'auth-title' }, text: register ? 'Create an account' : 'Sign in' }),
      ...fields.map((f) => f.wrap),
      formError,
      submit,
      h(
        'p',
        { class: 'switch' },
        register ? 'Already have an account? ' : 'New here? ',
        h('button', {
          class: 'link',
          attrs: { type: 'button' },
          text: register ? 'Sign in' : 'Create an account',
          on: {
            click: () => {
              mode = register ? 'login' : 'register';
              render();
            },
          },
        }),
      ),
    );

    const problem = (f: Field): string => {
      const v = f.input.value;
      if (f.name === 'login') return register ? validateLogin(v) : v.trim() ? '' : 'Enter your login.';
      if (f.name === 'username') return validateUsername(v);
      if (f.name === 'password') return register ? validatePassword(v) : v ? '' : 'Enter your password.';
      return '';
    };
    const check = (): boolean => {
      let first: Field | null = null;
      for (const f of fields) {
        const msg = problem(f);
        setFieldError(f, msg);
        if (msg && !first) first = f;
      }
      if (first) first.input.focus();
      return !first;
    };
    // A field marked invalid is cleared once its value is acceptable: while typing, not on blur
    // (a message vanishing on blur would move the button the user is clicking).
    for (const f of fields) {
      f.input.addEventListener('input', () => {
        if (f.input.getAttribute('aria-invalid') === 'true' && !problem(f)) setFieldError(f, '');
      });
    }

    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      setText(formError, '');
      if (!check()) return;
      submit.disabled = true;
      submit.setAttribute('aria-busy', 'true');
      const v = (n: string) => byName.get(n)?.input.value ?? '';
      try {
        const me = register
          ? await api.register(v('username').trim(), v('login').trim(), v('password'))
          : await api.login(v('login').trim(), v('password'));
        done(me);
      } catch (err) {
        const f = err instanceof ApiError && err.field ? byName.get(err.field) : undefined;
        const msg = err instanceof Error ? err.message : String(err);
        if (f) {
          setFieldError(f, msg);
          f.input.focus();
        } else {
          setText(formError, msg);
          if (err instanceof ApiError && err.code === 'login_taken') {
            const lf = byName.get('login');
            if (lf) {
              setFieldError(lf, msg);
              lf.input.focus();
            }
          }
        }
      } finally {
        submit.disabled = false;
        submit.removeAttribute('aria-busy');
      }
    });

    container.replaceChildren(form);
    fields[0]?.input.focus();
  };
  render();
}
