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
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { api, startCluster, uniqueLogin, type Cluster } from '../harness/index.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
const PASSWORD = 'correct horse battery';
const WAIT_MS = 20_000;

let cluster: Cluster;
let browser: Browser;
/** The gateway, as the web client's users open it. */
let app: string;
/** The other pages' server, reached as http://localhost:<port> (another site) or http://127.0.0.1:<port>. */
let other: http.Server;
let otherPort: number;
const contexts: BrowserContext[] = [];
/** Pages the other server serves, by path. */
const pages = new Map<string, string>();

async function newPage(): Promise<{ ctx: BrowserContext; page: Page; problems: string[] }> {
  const ctx = await browser.newContext();
  contexts.push(ctx);
  const page = await ctx.newPage();
  page.setDefaultTimeout(WAIT_MS);
  const problems: string[] = [];
  page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
  return { ctx, page, problems };
}

async function sessionCookie(ctx: BrowserContext): Promise<string | undefined> {
  return (await ctx.cookies(app)).find((c) => c.name === 'sessionToken')?.value;
}

/** Registers through the web client's own form (its requests are same-origin). */
async function registerViaUi(page: Page, login: string): Promise<void> {
  await page.goto(app);
  await page.getByRole('button', { name: 'Create an account' }).click();
  await page.getByLabel('Your name').fill(`User ${login.slice(-4)}`);
  await page.getByLabel('Login', { exact: true }).fill(login);
  await page.getByLabel('Password', { exact: true }).fill(PASSWORD);
  await page.getByRole('button', { name: 'Create account' }).click();
  await page.locator('.shell').waitFor();
  await page.getByText('Connected', { exact: true }).waitFor();
}

async function groupNames(token: string): Promise<string[]> {
  const res = await api(app).request<{ type: string; name: string }[]>('GET', '/chats', { token });
  assert.equal(res.status, 200, res.text);
  return res.json!.filter((c) => c.type === 'group').map((c) => c.name);
}

before(async () => {
  cluster = await startCluster({ gateways: 1, relay: false });
  app = cluster.gateways[0]!.url;
  other = http.createServer((req, res) => {
    const body = pages.get(new URL(req.url ?? '/', 'http://x').pathname);
    res.writeHead(body ? 200 : 404, { 'content-type': 'text/html; charset=utf-8' });
    res.end(body ?? 'not found');
  });
  await new Promise<void>((resolve) => other.listen(0, '127.0.0.1', resolve));
  otherPort = (other.address() as AddressInfo).port;
  browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
});

after(async () => {
  for (const ctx of contexts) await ctx.close().catch(() => {});
  await browser?.close();
  await new Promise((resolve) => other?.close(resolve));
  await cluster?.stop();
});

describe('the browser-facing edge', { timeout: 300_000 }, () => {
  it('refuses a cross-site form post to /login (login CSRF): no session is set', async () => {
    const attacker = await api(app).register(uniqueLogin('att'));
    // A text/plain form whose body parses as JSON: {"login":"…","password":"…","x":"="}.
    const name = JSON.stringify({ login: attacker.login, password: PASSWORD, x: '' }).slice(0, -2);
    pages.set(
      '/login-csrf',
      `<!doctype html><form method="post" enctype="text/plain" action="${app}/login">
        <input type="hidden" name='${name}' value='"}'></form>
        <script>document.forms[0].submit()</script>`,
    );
    const { ctx, page } = await newPage();
    const answer = page.waitForResponse((r) => r.url() === `${app}/login`);
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
    await page.goto(app);
    await page.getByRole('heading', { name: 'Sign in' }).waitFor();
  });

  it("refuses a no-cors POST /groups from another port of the host, though it carries the victim's cookie", async () => {
    const { ctx, page, problems } = await newPage();
    await registerViaUi(page, uniqueLogin('vic'));
    const token = await sessionCookie(ctx);
    assert.ok(token, 'signed in through the web client');
    pages.set(
      '/write',
      `<!doctype html><script>
        const target = ${JSON.stringify(app)};
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
      if (r.url().startsWith(app))
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
    const me = await api(app).request('GET', '/me', { token });
    assert.equal(me.status, 200, me.text);
    assert.deepEqual(problems, []);
  });

  it('the web client itself still writes with its cookie, and Bearer scripts without an Origin work', async () => {
    const { ctx, page, problems } = await newPage();
    const login = uniqueLogin('own');
    await registerViaUi(page, login);
    const token = (await sessionCookie(ctx))!;
    const name = `Own ${login.slice(-4)}`;
    await page.getByRole('button', { name: 'New group' }).click();
    const dlg = page.getByRole('dialog', { name: 'New group' });
    await dlg.getByLabel('Group name').fill(name);
    await dlg.getByRole('button', { name: 'Create' }).click();
    await page.locator('.chat-title', { hasText: name }).waitFor();
    assert.deepEqual(await groupNames(token), [name]);

    const script = await api(app).request<{ owner: string }>('POST', '/groups', {
      token,
      body: { name: 'From a script' },
    });
    assert.equal(script.status, 201, script.text);
    assert.equal(script.json!.owner, login);

    await page.getByRole('button', { name: 'Log out' }).click();
    await page.getByRole('heading', { name: 'Sign in' }).waitFor();
    const after = await api(app).request('GET', '/me', { token });
    assert.equal(after.status, 401, 'the web client logged out');
    assert.deepEqual(problems, []);
  });
});
