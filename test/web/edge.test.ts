/**
 * The browser-facing edge in a real browser: Debian's Chromium (playwright-core)
 * against a real cluster, with pages of another site (`localhost`) and of
 * another origin of the same site (`127.0.0.1` on another port) served by this
 * test. A cross-site form that would log the browser into an attacker's
 * account and a same-site no-cors write with the victim's cookie are refused;
 * the web client itself and Bearer scripts work as before.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { BrowserContext, Page } from 'playwright-core';
import { api, uniqueLogin } from '../harness/index.js';
import { PASSWORD, registerViaUi, useBrowser } from './browser.js';

const suite = useBrowser({ gateways: 1, relay: false });
/** The other pages' server, reached as http://localhost:<port> (another site) or http://127.0.0.1:<port>. */
let other: http.Server;
let otherPort: number;
/** Pages the other server serves, by path. */
const pages = new Map<string, string>();

async function newPage(): Promise<{ ctx: BrowserContext; page: Page; problems: string[] }> {
  const { ctx, page } = await suite.newPage();
  const problems: string[] = [];
  page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
  return { ctx, page, problems };
}

async function sessionCookie(ctx: BrowserContext): Promise<string | undefined> {
  return (await ctx.cookies(suite.app)).find((c) => c.name === 'sessionToken')?.value;
}

const registerAs = (page: Page, login: string) =>
  registerViaUi(page, suite.app, `User ${login.slice(-4)}`, login);

async function groupNames(token: string): Promise<string[]> {
  const res = await api(suite.app).request<{ type: string; name: string }[]>('GET', '/chats', { token });
  assert.equal(res.status, 200, res.text);
  return res.json!.filter((c) => c.type === 'group').map((c) => c.name);
}

before(async () => {
  other = http.createServer((req, res) => {
    const body = pages.get(new URL(req.url ?? '/', 'http://x').pathname);
    res.writeHead(body ? 200 : 404, { 'content-type': 'text/html; charset=utf-8' });
    res.end(body ?? 'not found');
  });
  await new Promise<void>((resolve) => other.listen(0, '127.0.0.1', resolve));
  otherPort = (other.address() as AddressInfo).port;
});

after(async () => {
  await new Promise((resolve) => other?.close(resolve));
});

describe('the browser-facing edge', { timeout: 300_000 }, () => {
  it('refuses a cross-site form post to /login (login CSRF): no session is set', async () => {
    const attacker = await api(suite.app).register(uniqueLogin('att'));
    // A text/plain form whose body parses as JSON: {"login":"…","password":"…","x":"="}.
    const name = JSON.stringify({ login: attacker.login, password: PASSWORD, x: '' }).slice(0, -2);
    pages.set(
      '/login-csrf',
      `<!doctype html><form method="post" enctype="text/plain" action="${suite.app}/login">
        <input type="hidden" name='${name}' value='"}'></form>
        <script>document.forms[0].submit()</script>`,
    );
    const { ctx, page } = await newPage();
    const answer = page.waitForResponse((r) => r.url() === `${suite.app}/login`);
    await page.goto(`http://localhost:${otherPort}/login-csrf`);
    const res = await answer;
    const request = res.request();
    assert.equal(request.method(), 'POST');
    assert.match(request.headers()['content-type'] ?? '', /^text\/plain/);
    assert.equal((await request.allHeaders()).origin, `http://localhost:${otherPort}`);
    assert.equal(res.status(), 403, await res.text());
    assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'origin_not_allowed');
    assert.equal(await sessionCookie(ctx), undefined, 'the browser holds no session');
    // Opening the messenger afterwards shows the sign-in form, not the attacker's account.
    await page.goto(suite.app);
    await page.getByRole('heading', { name: 'Sign in' }).waitFor();
  });

  it("refuses a no-cors POST /groups from another port of the host, though it carries the victim's cookie", async () => {
    const { ctx, page, problems } = await newPage();
    await registerAs(page, uniqueLogin('vic'));
    const token = await sessionCookie(ctx);
    assert.ok(token, 'signed in through the web client');
    pages.set(
      '/write',
      `<!doctype html><script>
        const target = ${JSON.stringify(suite.app)};
        const send = (path, init) => fetch(target + path, { mode: 'no-cors', credentials: 'include', ...init });
        window.done = Promise.all([
          send('/me', {}),
          send('/groups', { method: 'POST', headers: { 'Content-Type': 'text/plain' },
            body: JSON.stringify({ name: 'pwned text' }) }),
          send('/groups', { method: 'POST', body: new URLSearchParams({ name: 'pwned form' }) }),
          send('/logout', { method: 'POST' }),
        ]).then((rs) => rs.map((r) => r.type));
      </script>`,
    );
    const answers: string[] = [];
    page.on('response', (r) => {
      if (r.url().startsWith(suite.app))
        answers.push(`${r.request().method()} ${new URL(r.url()).pathname} ${r.status()}`);
    });
    await page.goto(`http://127.0.0.1:${otherPort}/write`);
    assert.deepEqual(await page.evaluate('window.done'), ['opaque', 'opaque', 'opaque', 'opaque']);
    for (let i = 0; i < 50 && answers.length < 4; i++) await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(
      answers.sort(),
      // The read answers 200: SameSite=Lax lets the victim's cookie through from this page, so only
      // the server's check stops the writes.
      ['GET /me 200', 'POST /groups 403', 'POST /groups 403', 'POST /logout 403'],
    );
    // Nothing was created, and the session was not logged out.
    assert.deepEqual(await groupNames(token), []);
    const me = await api(suite.app).request('GET', '/me', { token });
    assert.equal(me.status, 200, me.text);
    assert.deepEqual(problems, []);
  });

  it('the web client itself still writes with its cookie, and Bearer scripts without an Origin work', async () => {
    const { ctx, page, problems } = await newPage();
    const login = uniqueLogin('own');
    await registerAs(page, login);
    const token = (await sessionCookie(ctx))!;
    const name = `Own ${login.slice(-4)}`;
    await page.getByRole('button', { name: 'New group' }).click();
    const dlg = page.getByRole('dialog', { name: 'New group' });
    await dlg.getByLabel('Group name').fill(name);
    await dlg.getByRole('button', { name: 'Create' }).click();
    await page.locator('.chat-title', { hasText: name }).waitFor();
    assert.deepEqual(await groupNames(token), [name]);

    const script = await api(suite.app).request<{ owner: string }>('POST', '/groups', {
      token,
      body: { name: 'From a script' },
    });
    assert.equal(script.status, 201, script.text);
    assert.equal(script.json!.owner, login);

    await page.getByRole('button', { name: 'Log out' }).click();
    await page.getByRole('heading', { name: 'Sign in' }).waitFor();
    const after = await api(suite.app).request('GET', '/me', { token });
    assert.equal(after.status, 401, 'the web client logged out');
    assert.deepEqual(problems, []);
  });
});
