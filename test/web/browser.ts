/**
 * Shared pieces of the browser suites: Debian's Chromium driven by
 * playwright-core against one real cluster per test file (started in
 * `before`, stopped in `after` with every browser context), and the web
 * client's own sign-up form.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { after, before } from 'node:test';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { startCluster, type Cluster, type StartClusterOptions } from '../harness/index.js';

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
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
export const PASSWORD = 'correct horse battery';
/** How long a page waits for an element or an event. */
export const WAIT_MS = 20_000;

/** Installs Chromium with apt-get when it is missing (CI starts from a bare machine). */
export function ensureChromium(): void {
  if (fs.existsSync(CHROMIUM)) return;
  const root = typeof process.getuid === 'function' && process.getuid() === 0;
  const sudo = root ? [] : ['sudo', '-n'];
  const run = (args: string[]) => {
    const [cmd, ...rest] = [...sudo, ...args];
    spawnSync(cmd!, rest, { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  };
  run(['apt-get', 'update']);
  run(['apt-get', 'install', '-y', '--no-install-recommends', 'chromium']);
  if (!fs.existsSync(CHROMIUM))
    throw new Error(`${CHROMIUM} is missing and apt-get could not install chromium`);
}

export interface BrowserSuite {
  readonly cluster: Cluster;
  readonly browser: Browser;
  /** The first gateway's URL: where the browsers open the web client. */
  readonly app: string;
  /**
   * A new browser context (closed after the file), with one page that waits WAIT_MS at most; `initScript`
   * (a file) runs in every document of the context before the page's own scripts.
   */
  newPage(
    options?: Parameters<Browser['newContext']>[0],
    initScript?: string,
  ): Promise<{ ctx: BrowserContext; page: Page }>;
}

/** Starts the cluster and Chromium before the file's tests and stops both after them. */
export function useBrowser(options: Omit<StartClusterOptions, 't'>, prepare?: () => void): BrowserSuite {
  let cluster: Cluster | undefined;
  let browser: Browser | undefined;
  const contexts: BrowserContext[] = [];
  before(async () => {
    ensureChromium();
    prepare?.();
    cluster = await startCluster(options);
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  });
  after(async () => {
    for (const ctx of contexts) await ctx.close().catch(() => {});
    await browser?.close();
    await cluster?.stop();
  });
  const suite: BrowserSuite = {
    get cluster() {
      return cluster!;
    },
    get browser() {
      return browser!;
    },
    get app() {
      return cluster!.gateways[0]!.url;
    },
    async newPage(contextOptions, initScript) {
      const ctx = await suite.browser.newContext(contextOptions);
      contexts.push(ctx);
      if (initScript) await ctx.addInitScript({ path: initScript });
      const page = await ctx.newPage();
      page.setDefaultTimeout(WAIT_MS);
      return { ctx, page };
    },
  };
  return suite;
}

/** Registers through the web client's own form (its requests are same-origin) and waits for the socket. */
export async function registerViaUi(page: Page, app: string, username: string, login: string): Promise<void> {
  await page.goto(app);
  await page.getByRole('button', { name: 'Create an account' }).click();
  await page.getByLabel('Your name').fill(username);
  await page.getByLabel('Login', { exact: true }).fill(login);
  await page.getByLabel('Password', { exact: true }).fill(PASSWORD);
  await page.getByRole('button', { name: 'Create account' }).click();
  await page.locator('.shell').waitFor();
  await page.getByText('Connected', { exact: true }).waitFor();
}
