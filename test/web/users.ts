/**
 * The web client as its users drive it in the browser suites: a page per user (with the probe of
 * page-probe.js, and every page error, external request or unexpected console error recorded), the sign-up
 * form, opening chats, sending, and waiting for message rows.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import { ROOT } from '../../launcher/index.js';
import { uniqueLogin } from '../harness/index.js';
import { registerViaUi, type BrowserSuite } from './browser.js';

const SCREENSHOTS = process.env.SCREENSHOTS === '1';
const SHOTS_DIR = path.join(ROOT, 'docs', 'screenshots');
const PROBE = path.join(ROOT, 'test', 'web', 'page-probe.js');

export interface User {
  login: string;
  username: string;
  ctx: BrowserContext;
  page: Page;
  /** Page errors and failed requests to other origins, checked at the end. */
  problems: string[];
}

/** The helpers, bound to the file's cluster and browser. */
export function webUsers(suite: BrowserSuite) {
  async function newPage(
    viewport = { width: 1200, height: 760 },
  ): Promise<{ ctx: BrowserContext; page: Page; problems: string[] }> {
    const { ctx, page } = await suite.newPage({ viewport }, PROBE);
    const problems: string[] = [];
    page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
    page.on('request', (req) => {
      const u = new URL(req.url());
      if (u.protocol !== 'data:' && u.host !== new URL(suite.app).host)
        problems.push(`external request: ${req.url()}`);
    });
    page.on('console', (msg) => {
      // A CSP violation would show up here; 401 from GET /me before signing in is expected.
      // So do refused connections while the gateway restarts.
      const expected = /status of 401|WebSocket connection to .* failed|net::ERR_CONNECTION_REFUSED/;
      if (msg.type() === 'error' && !expected.test(msg.text())) problems.push(`console: ${msg.text()}`);
    });
    return { ctx, page, problems };
  }

  async function newUser(name: string, viewport?: { width: number; height: number }): Promise<User> {
    const { ctx, page, problems } = await newPage(viewport);
    const login = uniqueLogin(name.toLowerCase().slice(0, 5));
    const username = `${name} ${login.slice(-4)}`;
    await registerViaUi(page, suite.app, username, login);
    return { login, username, ctx, page, problems };
  }

  async function sessionToken(u: User): Promise<string> {
    const c = (await u.ctx.cookies()).find((x) => x.name === 'sessionToken');
    assert.ok(c, 'the browser holds a sessionToken cookie');
    return c.value;
  }

  /** Opens the dialog with `other` through the user search. */
  async function openDialogBySearch(u: User, other: User): Promise<void> {
    await u.page.getByLabel('Search people by login or name').fill(other.login);
    await u.page.locator('.result-row', { hasText: '@' + other.login }).click();
    await u.page.locator('.chat-title', { hasText: other.username }).waitFor();
  }

  async function openChatFromList(u: User, name: string): Promise<void> {
    await u.page.locator('.chat-row', { hasText: name }).click();
    await u.page.locator('.chat-title', { hasText: name }).waitFor();
  }

  async function send(u: User, text: string): Promise<void> {
    const box = u.page.getByLabel('Message', { exact: true });
    await box.fill(text);
    await box.press('Enter');
  }

  /** The message row holding exactly `text`. */
  function row(u: User, text: string, who: 'mine' | 'theirs' | '' = '') {
    return u.page.locator(`.msg${who ? '.' + who : ''}`, {
      has: u.page.locator('.msg-text').getByText(text, { exact: true }),
    });
  }

  /** Waits for a message row; on timeout the error tells what the page did show. */
  async function waitRow(u: User, text: string, who: 'mine' | 'theirs' | '' = ''): Promise<void> {
    try {
      await row(u, text, who).waitFor();
    } catch (err) {
      const seen = await renderedMessages(u).catch(() => null);
      const state = await u.page
        .locator('.conn-state')
        .textContent()
        .catch(() => '?');
      const title = await u.page
        .locator('.chat-title')
        .textContent()
        .catch(() => '?');
      throw new Error(
        `${u.login}: no message "${text}" in "${title}" (socket: ${state}); rows: ${JSON.stringify(seen)}`,
        { cause: err },
      );
    }
  }

  /** data-id of the message rows in DOM order, and their texts. */
  async function renderedMessages(u: User): Promise<{ ids: number[]; texts: string[] }> {
    return u.page.evaluate(
      `(() => { const rows = [...document.querySelectorAll('.msg')];
        return { ids: rows.map((r) => Number(r.dataset.id || 0)), texts: rows.map((r) => r.querySelector('.msg-text').textContent) }; })()`,
    );
  }

  async function shot(page: Page, name: string): Promise<void> {
    if (!SCREENSHOTS) return;
    fs.mkdirSync(SHOTS_DIR, { recursive: true });
    await page.screenshot({ path: path.join(SHOTS_DIR, `${name}.png`) });
  }

  return {
    newPage,
    newUser,
    sessionToken,
    openDialogBySearch,
    openChatFromList,
    send,
    row,
    waitRow,
    renderedMessages,
    shot,
  };
}
