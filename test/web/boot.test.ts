/**
 * The page's first requests in Chromium (playwright-core) against a real
 * cluster: GET / says in the page whether the request carries a live session,
 * so an anonymous visit makes no request that fails (no 401 in the console)
 * and a signed-in visit asks for GET /chats first, never GET /me.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { BrowserContext, Page } from 'playwright-core';
import { api, uniqueLogin } from '../harness/index.js';
import { useBrowser } from './browser.js';

const suite = useBrowser({ gateways: 1, relay: false });

interface Recorded {
  page: Page;
  ctx: BrowserContext;
  /** "METHOD /path" of every request to the gateway, in the order sent. */
  requests: string[];
  /** Failed requests, answers of 400 and above, console errors, page errors. */
  problems: string[];
}

async function recordedPage(): Promise<Recorded> {
  const { ctx, page } = await suite.newPage();
  const requests: string[] = [];
  const problems: string[] = [];
  page.on('request', (r) => {
    const u = new URL(r.url());
    if (u.origin === suite.app) requests.push(`${r.method()} ${u.pathname}`);
  });
  page.on('requestfailed', (r) => problems.push(`failed: ${r.url()} ${r.failure()?.errorText}`));
  page.on('response', (r) => {
    if (r.status() >= 400) problems.push(`${r.status()}: ${r.request().method()} ${r.url()}`);
  });
  page.on('console', (m) => {
    if (m.type() === 'error') problems.push(`console: ${m.text()}`);
  });
  page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
  return { page, ctx, requests, problems };
}

/** The requests after the document and its static assets. */
const apiRequests = (requests: string[]) =>
  requests.filter((r) => r !== 'GET /' && !r.startsWith('GET /assets/'));

describe("the page's first requests", { timeout: 120_000 }, () => {
  it('GET / carries the session it was asked with, never cached', async () => {
    const http = api(suite.app);
    const anonymous = await http.request('GET', '/');
    assert.match(anonymous.text, /<script type="application\/json" id="gm-bootstrap">{"me":null}<\/script>/);
    assert.equal(anonymous.headers.get('cache-control'), 'no-store');
    const user = await http.register(uniqueLogin('bt'), undefined, 'Boot </script><b>x</b>');
    const signedIn = await http.request('GET', '/', { cookie: user.cookie });
    const block = /<script type="application\/json" id="gm-bootstrap">([^<]*)<\/script>/.exec(signedIn.text);
    assert.ok(block, signedIn.text);
    assert.deepEqual(JSON.parse(block[1]!), {
      me: { login: user.login, username: 'Boot </script><b>x</b>' },
    });
    // A cookie that is not a live session is anonymous.
    const stale = await http.request('GET', '/', { cookie: 'sessionToken=nonsense' });
    assert.match(stale.text, /{"me":null}/);
  });

  it('an anonymous visit shows the sign-in form without a single failing request', async () => {
    const { page, requests, problems } = await recordedPage();
    await page.goto(suite.app);
    await page.getByRole('heading', { name: 'Sign in' }).waitFor();
    await page.waitForLoadState('networkidle');
    assert.deepEqual(problems, []);
    assert.deepEqual(apiRequests(requests), [], `requests: ${requests.join(', ')}`);
  });

  it('a signed-in visit asks for GET /chats first and never GET /me', async () => {
    const user = await api(suite.app).register(uniqueLogin('bt'), undefined, 'Boot </script><b>x</b>');
    const { page, ctx, requests, problems } = await recordedPage();
    await ctx.addCookies([
      { name: 'sessionToken', value: user.token, url: suite.app, httpOnly: true, sameSite: 'Lax' },
    ]);
    await page.goto(suite.app);
    await page.locator('.me-name', { hasText: 'Boot </script><b>x</b>' }).waitFor();
    await page.getByText('Connected', { exact: true }).waitFor();
    await page.waitForLoadState('networkidle');
    const sent = apiRequests(requests);
    assert.equal(sent[0], 'GET /chats', `requests: ${requests.join(', ')}`);
    assert.ok(!sent.includes('GET /me'), `requests: ${requests.join(', ')}`);
    assert.equal(await page.locator('.shell b').count(), 0, 'the name is text, not markup');
    assert.deepEqual(problems, []);
  });
});
