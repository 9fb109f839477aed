/**
 * The web client end to end: Debian's Chromium (driven by playwright-core)
 * against a real cluster, several browser contexts as different users.
 *
 * Needs `npm run build` (services in dist/ and the client in web/dist).
 * SCREENSHOTS=1 also writes docs/screenshots/*.png.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { ROOT } from '../../launcher/index.js';
import { api, connectWs, uniqueLogin, type GatewayProcess } from '../harness/index.js';
import { PASSWORD, useBrowser, WAIT_MS } from './browser.js';
import { webUsers, type User } from './users.js';

const suite = useBrowser({ gateways: 2, shards: 1 }, () =>
  assert.ok(
    fs.existsSync(path.join(ROOT, 'web', 'dist', 'index.html')),
    'web/dist is built (npm run build runs build:web)',
  ),
);
/** The web client as its users drive it. */
const web = webUsers(suite);

describe('web client', { timeout: 600_000 }, () => {
  let alice: User;
  let bob: User;
  /** The private group Alice creates (open in her page when it reloads). */
  let groupName = '';

  it('registers and signs in through the forms, with validation and server errors', async () => {
    const { page } = await web.newPage({ width: 1200, height: 760 });
    await page.goto(suite.app);
    await page.getByRole('heading', { name: 'Sign in' }).waitFor();
    await web.shot(page, 'login');

    // Client-side validation names the field.
    await page.getByRole('button', { name: 'Create an account' }).click();
    await page.getByLabel('Your name').fill('Alice');
    await page.getByLabel('Login', { exact: true }).fill('a!');
    await page.getByLabel('Password', { exact: true }).fill('short');
    await page.getByRole('button', { name: 'Create account' }).click();
    await page.getByText('Use 3–32 letters, digits').waitFor();
    assert.equal(await page.getByLabel('Login', { exact: true }).getAttribute('aria-invalid'), 'true');
    await page.getByText('Too short: use at least 8 characters.').waitFor();

    alice = await web.newUser('Alice');
    bob = await web.newUser('Bob');

    // The server's answer for a taken login (case-insensitive) is shown on the login field.
    await page.getByLabel('Login', { exact: true }).fill(alice.login.toUpperCase());
    await page.getByLabel('Password', { exact: true }).fill(PASSWORD);
    await page.getByRole('button', { name: 'Create account' }).click();
    await page.locator('#register-login-error').filter({ hasText: /./ }).waitFor();

    // Wrong password: the server's error, and no session.
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByLabel('Login', { exact: true }).fill(alice.login);
    await page.getByLabel('Password', { exact: true }).fill('wrong password');
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.locator('#auth-error').filter({ hasText: /./ }).waitFor();
    assert.equal(await page.locator('.shell').count(), 0);

    // The right one signs in.
    await page.getByLabel('Password', { exact: true }).fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.locator('.me-name', { hasText: alice.username }).waitFor();
    await page.getByRole('button', { name: 'Log out' }).click();
    await page.getByRole('heading', { name: 'Sign in' }).waitFor();
  });

  it('finds each other, chats live in a dialog, statuses move to read, typing shows', async () => {
    await web.openDialogBySearch(alice, bob);
    await web.send(alice, 'Hi Bob!');
    await web.row(alice, 'Hi Bob!', 'mine').waitFor();

    // Bob's list shows the new chat with an unread badge and the preview, live.
    const bobRow = bob.page.locator('.chat-row', { hasText: alice.username });
    await bobRow.locator('.badge', { hasText: '1' }).waitFor();
    await bobRow.locator('.chat-preview', { hasText: 'Hi Bob!' }).waitFor();
    // Delivered to Bob's open socket before he reads it.
    await alice.page.locator('.msg.mine[data-status="delivered"]', { hasText: 'Hi Bob!' }).waitFor();

    await web.openChatFromList(bob, alice.username);
    await web.row(bob, 'Hi Bob!', 'theirs').waitFor();
    await alice.page.locator('.msg.mine[data-status="read"]', { hasText: 'Hi Bob!' }).waitFor();
    await bobRow.locator('.badge').waitFor({ state: 'hidden' });

    // Typing indicator, then the reply.
    await bob.page.getByLabel('Message', { exact: true }).pressSequentially('Hello', { delay: 20 });
    await alice.page.locator('.chat-subtitle', { hasText: 'typing…' }).waitFor();
    await bob.page.getByLabel('Message', { exact: true }).press('Enter');
    await web.row(alice, 'Hello', 'theirs').waitFor();
    await bob.page.locator('.msg.mine[data-status="read"]', { hasText: 'Hello' }).waitFor();

    for (let i = 1; i <= 5; i++) await web.send(alice, `burst ${i}`);
    await web.row(bob, 'burst 5').waitFor();
    const seen = await web.renderedMessages(bob);
    assert.deepEqual(seen.texts, ['Hi Bob!', 'Hello', 'burst 1', 'burst 2', 'burst 3', 'burst 4', 'burst 5']);
    assert.ok(
      seen.ids.every((id, i) => i === 0 || id > seen.ids[i - 1]!),
      'ids strictly increase in order',
    );
    await alice.page.locator('.msg.mine[data-status="read"]', { hasText: 'burst 5' }).waitFor();
    await web.shot(alice.page, 'chat');
  });

  it('shows presence changes live', async () => {
    await alice.page.locator('.chat-subtitle', { hasText: 'online' }).waitFor();
    const aliceRowAvatar = alice.page.locator('.chat-row', { hasText: bob.username }).locator('.dot');
    assert.equal(await aliceRowAvatar.getAttribute('class'), 'dot on');

    // Bob leaves: his only socket closes and Alice sees "last seen".
    await bob.page.goto('about:blank');
    await alice.page.locator('.chat-subtitle', { hasText: 'last seen' }).waitFor();
    assert.equal(await aliceRowAvatar.getAttribute('class'), 'dot');

    await bob.page.goto(`${suite.app}/#/dialog/${alice.login}`);
    await alice.page.locator('.chat-subtitle', { hasText: 'online' }).waitFor();
  });

  it('creates a private group with a member picker and chats in it; members with roles and presence', async () => {
    const carol = await web.newUser('Carol');
    groupName = `Team ${uniqueLogin('g').slice(-5)}`;
    await alice.page.getByRole('button', { name: 'New group' }).click();
    const dlg = alice.page.getByRole('dialog', { name: 'New group' });
    await dlg.getByLabel('Group name').fill(groupName);
    await dlg.getByLabel('Add members').fill(bob.login);
    await dlg.locator('.result-row', { hasText: '@' + bob.login }).click();
    await dlg.getByRole('button', { name: `Remove ${bob.username}` }).waitFor();
    await dlg.getByRole('button', { name: 'Create' }).click();
    await alice.page.locator('.chat-title', { hasText: groupName }).waitFor();

    // Bob sees it live; Carol (not a member) never does.
    await web.send(alice, 'Welcome to the group');
    await bob.page.locator('.chat-row', { hasText: groupName }).waitFor();
    await web.openChatFromList(bob, groupName);
    await web.row(bob, 'Welcome to the group', 'theirs').waitFor();
    await web.send(bob, 'Glad to be here');
    await web.row(alice, 'Glad to be here', 'theirs').waitFor();
    await alice.page.locator('.msg.mine[data-status="read"]', { hasText: 'Welcome to the group' }).waitFor();
    assert.equal(await carol.page.locator('.chat-row', { hasText: groupName }).count(), 0);

    // Members: roles and presence; the owner adds Carol, who then sees the group live.
    const members = alice.page.getByRole('dialog', { name: /members/ });
    const editMembers = async (fn: () => Promise<void>) => {
      await alice.page.getByRole('button', { name: 'Members' }).click();
      await members.locator(`.member[data-login="${alice.login}"] .role`, { hasText: 'owner' }).waitFor();
      await fn();
      await members.getByRole('button', { name: 'Close' }).click();
    };
    const addCarol = async () => {
      await members.getByLabel('Add a member').fill(carol.login);
      await members.locator('.result-row', { hasText: '@' + carol.login }).click();
      await members.locator(`.member[data-login="${carol.login}"]`).waitFor();
    };
    await editMembers(async () => {
      const bobItem = members.locator(`.member[data-login="${bob.login}"]`);
      await bobItem.locator('.role', { hasText: 'member' }).waitFor();
      await bobItem.getByText('online').waitFor();
      await addCarol();
      await web.shot(alice.page, 'group-members');
    });
    await web.send(alice, 'Hi Carol');
    await web.openChatFromList(carol, groupName);
    await web.waitRow(carol, 'Hi Carol', 'theirs');

    // Removed, Carol's next message fails visibly; once she is a member again, Retry delivers it
    // (same client_id, so it is stored once).
    await editMembers(async () => {
      await members.getByRole('button', { name: `Remove ${carol.username}` }).click();
      await members.locator(`.member[data-login="${carol.login}"]`).waitFor({ state: 'detached' });
    });
    await web.send(carol, 'Still here?');
    const failed = carol.page.locator('.msg.mine.failed', { hasText: 'Still here?' });
    await failed.getByRole('button', { name: 'Retry' }).waitFor();
    await editMembers(addCarol);
    await failed.getByRole('button', { name: 'Retry' }).click();
    await carol.page.locator('.msg.mine[data-status="read"]', { hasText: 'Still here?' }).waitFor();
    await web.waitRow(alice, 'Still here?', 'theirs');
    assert.equal(await web.row(alice, 'Still here?').count(), 1);

    // Bob leaves the group (confirming), and it disappears from his list.
    await bob.page.getByRole('button', { name: 'Members' }).click();
    const bobMembers = bob.page.getByRole('dialog', { name: /members/ });
    await bobMembers.locator(`.member[data-login="${bob.login}"]`).waitFor();
    await bobMembers.getByRole('button', { name: 'Leave group' }).click();
    await bobMembers.getByRole('button', { name: 'Leave group' }).click();
    await bob.page.locator('.chat-row', { hasText: groupName }).waitFor({ state: 'detached' });
    await web.openChatFromList(bob, alice.username);
  });

  it('keeps history across a reload and a new sign-in', async () => {
    const history = ['Hi Bob!', 'Hello', 'burst 1', 'burst 2', 'burst 3', 'burst 4', 'burst 5'];
    await alice.page.reload();
    await alice.page.locator('.chat-title', { hasText: groupName }).waitFor();
    await web.openChatFromList(alice, bob.username);
    await web.waitRow(alice, 'burst 5');
    assert.deepEqual((await web.renderedMessages(alice)).texts, history);
    assert.equal(
      await alice.page.locator('.msg.mine[data-status="read"]', { hasText: 'burst 5' }).count(),
      1,
    );

    await alice.page.getByRole('button', { name: 'Log out' }).click();
    await alice.page.getByRole('heading', { name: 'Sign in' }).waitFor();
    await alice.page.getByLabel('Login', { exact: true }).fill(alice.login);
    await alice.page.getByLabel('Password', { exact: true }).fill(PASSWORD);
    await alice.page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await web.openChatFromList(alice, bob.username);
    await web.waitRow(alice, 'burst 5');
    assert.deepEqual((await web.renderedMessages(alice)).texts, history);
  });

  it('survives a gateway restart: reconnects, and nothing is lost or duplicated', async () => {
    const [gw, other] = suite.cluster.gateways as [GatewayProcess, GatewayProcess];
    const before = (await web.renderedMessages(alice)).texts.length;

    // The browsers' gateway dies; both pages notice.
    await suite.cluster.kill(gw, 'SIGKILL');
    await alice.page.getByText('Reconnecting…').waitFor();
    await bob.page.getByText('Reconnecting…').waitFor();

    // Alice writes meanwhile: shown at once, sent when the connection is back.
    await web.send(alice, 'sent while down');
    await web.waitRow(alice, 'sent while down', 'mine');
    assert.equal(await web.row(alice, 'sent while down').getAttribute('data-status'), 'sending');

    // Bob writes from another client through the other gateway: the browsers can only get
    // these by catching up (?after=) once they reconnect.
    const ws = await connectWs(`${other.wsUrl}/chats/ws`, { token: await web.sessionToken(bob) });
    for (let i = 1; i <= 5; i++) {
      ws.send({
        type: 'send_message',
        payload: {
          text: `missed ${i}`,
          client_id: `m${i}-${Date.now()}`,
          chat: { type: 'dialog', id: alice.login },
        },
      });
    }
    await ws.take((e) => e.type === 'new_message' && e.payload.sender === bob.login, 5, WAIT_MS);
    await ws.close();

    await suite.cluster.restart(gw);
    for (const u of [alice, bob]) {
      await u.page.getByText('Connected', { exact: true }).waitFor();
      await web.waitRow(u, 'missed 5');
      await web.waitRow(u, 'sent while down');
      const seen = await web.renderedMessages(u);
      for (const t of ['sent while down', 'missed 1', 'missed 2', 'missed 3', 'missed 4', 'missed 5']) {
        assert.equal(seen.texts.filter((x) => x === t).length, 1, `"${t}" shown exactly once for ${u.login}`);
      }
      assert.equal(seen.texts.length, before + 6, `${u.login}: nothing else appeared`);
      const ids = seen.ids.filter((id) => id > 0);
      assert.ok(
        ids.every((id, i) => i === 0 || id > ids[i - 1]!),
        `ids strictly increase for ${u.login}`,
      );
    }
    await alice.page.locator('.msg.mine[data-status="read"]', { hasText: 'sent while down' }).waitFor();
  });

  it('shows XSS payloads as plain text in names, previews and messages', async () => {
    const payloads = [
      '<img src=x onerror="alert(1)">',
      '<script>alert(2)</script>',
      '"><svg onload=alert(3)>',
      "javascript:alert(4)//<a href='javascript:alert(5)'>x</a>",
      '&lt;b&gt;not bold&lt;/b&gt; <b>bold?</b>',
    ];
    const evilLogin = uniqueLogin('evil');
    const evil = await api(suite.app).register(evilLogin, PASSWORD, payloads[0]);
    const ws = await connectWs(`${suite.cluster.gateways[0]!.wsUrl}/chats/ws`, { token: evil.token });
    for (const [i, text] of payloads.entries()) {
      ws.send({
        type: 'send_message',
        payload: { text, client_id: `x${i}`, chat: { type: 'dialog', id: alice.login } },
      });
    }
    await ws.take((e) => e.type === 'new_message', payloads.length, WAIT_MS);
    await ws.close();

    await alice.page.locator('.chat-row', { hasText: payloads[0]! }).click();
    for (const p of payloads) await web.row(alice, p, 'theirs').waitFor();
    await alice.page.locator('.chat-title', { hasText: payloads[0]! }).waitFor();
    const dom = (await alice.page.evaluate(`(() => ({
      injected: document.querySelectorAll('.shell img, .shell script, .shell svg, .shell a[href], .shell b').length,
      alerts: window.__probe.alerts,
      texts: [...document.querySelectorAll('.msg-text')].map((e) => e.textContent),
    }))()`)) as { injected: number; alerts: number; texts: string[] };
    assert.equal(dom.injected, 0, 'no element was created from user text');
    assert.equal(dom.alerts, 0);
    for (const p of payloads) assert.ok(dom.texts.includes(p), `shown verbatim: ${p}`);
  });

  it('works at 360 px wide', async () => {
    const { page, problems } = await web.newPage({ width: 360, height: 740 });
    await page.goto(suite.app);
    await page.getByLabel('Login', { exact: true }).fill(bob.login);
    await page.getByLabel('Password', { exact: true }).fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.locator('.chat-row', { hasText: alice.username }).click();
    await page.locator('.msg', { hasText: 'missed 5' }).waitFor();
    const fits = 'document.documentElement.scrollWidth <= window.innerWidth';
    assert.equal(await page.evaluate(fits), true, 'no horizontal scrolling');
    await web.shot(page, 'mobile-chat');
    await page.getByRole('button', { name: 'Back to chats' }).click();
    await page.getByLabel('Search people by login or name').waitFor();
    assert.equal(await page.evaluate(fits), true, 'the chat list fits too');
    assert.deepEqual(problems, []);
  });

  it('made no external requests and raised no page errors', () => {
    assert.deepEqual(alice.problems, []);
    assert.deepEqual(bob.problems, []);
  });
});
