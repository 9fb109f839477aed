/**
 * The web client under load in Chromium: 500 messages/s into the open group chat for 10 s, measured
 * (long tasks, frames, heap, DOM size) and checked: every message can be seen, the page stays responsive.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { api, connectWs, uniqueLogin, type GatewayProcess } from '../harness/index.js';
import { useBrowser } from './browser.js';
import { webUsers } from './users.js';

// Two gateways: the reader's page on the first, the senders on the second.
const suite = useBrowser({ gateways: 2, shards: 1 });
const { newUser, sessionToken, waitRow } = webUsers(suite);

describe('web client under load', { timeout: 600_000 }, () => {
  it('keeps up with 500 messages/s into the open chat for 10 s', async (t) => {
    const RATE = 500;
    const SECONDS = 10;
    const TOTAL = RATE * SECONDS;
    const SENDERS = 4; // each stays under the per-user send limit

    const reader = await newUser('Reader');
    const [gwReader, gwSenders] = suite.cluster.gateways as [GatewayProcess, GatewayProcess];
    const http = api(gwSenders.url);
    const senders = await Promise.all(
      Array.from({ length: SENDERS }, (_, i) => http.register(uniqueLogin(`load${i}`))),
    );
    const created = await api(gwReader.url).request<{ id: string }>('POST', '/groups', {
      token: await sessionToken(reader),
      body: { name: 'Load test', public: false, members: senders.map((s) => s.login) },
    });
    assert.equal(created.status, 201, created.text);
    const group = { type: 'group' as const, id: created.json!.id };
    const sockets = await Promise.all(
      senders.map((s) => connectWs(`${gwSenders.wsUrl}/chats/ws`, { token: s.token, timeoutMs: 10_000 })),
    );
    t.after(() => Promise.all(sockets.map((ws) => ws.close().catch(() => undefined))));

    await reader.page.evaluate(`location.hash = '#/group/${group.id}'`);
    await reader.page.locator('.chat-title', { hasText: 'Load test' }).waitFor();
    sockets[0]!.send({ type: 'send_message', payload: { text: 'warm-up', client_id: 'w', chat: group } });
    await waitRow(reader, 'warm-up', 'theirs');

    const cdp = await reader.ctx.newCDPSession(reader.page);
    await cdp.send('Performance.enable');
    const measure = async () => {
      await cdp.send('HeapProfiler.collectGarbage');
      const heap = await cdp.send('Runtime.getHeapUsage');
      const { metrics } = await cdp.send('Performance.getMetrics');
      const metric = (name: string) => metrics.find((m) => m.name === name)?.value ?? 0;
      return {
        heapMB: heap.usedSize / 2 ** 20,
        nodes: metric('Nodes'),
        listeners: metric('JSEventListeners'),
      };
    };
    const before = await measure();
    await reader.page.evaluate(`(() => {
      window.__probe.longTasks = window.__probe.longTasks && [];
      window.__probe.trackFrames = true; window.__probe.frames = 0; window.__probe.maxFrameGap = 0;
      window.__probe.renderedIds.clear();
      window.__probe.t0 = performance.now();
    })()`);

    // The senders: 500 messages/s in total, round-robin, paced every few milliseconds.
    const filler = 'lorem ipsum dolor sit amet ';
    const started = Date.now();
    let sent = 0;
    while (sent < TOTAL) {
      const due = Math.min(TOTAL, Math.floor(((Date.now() - started) * RATE) / 1000));
      for (; sent < due; sent++) {
        const text = `load ${sent} ${filler.repeat(sent % 9)}`.trim();
        sockets[sent % SENDERS]!.send({
          type: 'send_message',
          payload: { text, client_id: `load-${sent}`, chat: group },
        });
      }
      await new Promise((r) => setTimeout(r, 4));
    }
    const sendSeconds = (Date.now() - started) / 1000;

    // Every sender socket receives the whole group's messages; the first one tells us all ids.
    const loadEvents = await sockets[0]!.take(
      (e) => e.type === 'new_message' && String(e.payload.text).startsWith('load '),
      TOTAL,
      120_000,
    );
    const ids = loadEvents.map((e) => e.payload.id!).sort((a, b) => a - b);
    const firstId = ids[0]!;
    const lastId = ids[ids.length - 1]!;
    assert.equal(new Set(ids).size, TOTAL, 'the server stored every message once');

    await reader.page.waitForFunction(`window.__probe.renderedIds.has(${lastId})`, undefined, {
      timeout: 120_000,
    });
    const catchUpSeconds = (Date.now() - started) / 1000 - sendSeconds;
    const live = (await reader.page.evaluate(`(() => {
      const p = window.__probe;
      p.trackFrames = false;
      const tasks = (p.longTasks || []).filter((x) => x.start >= p.t0);
      let shown = 0;
      for (let id = ${firstId}; id <= ${lastId}; id++) if (p.renderedIds.has(id)) shown++;
      return {
        supported: p.longTasks !== null,
        longTasks: tasks.length,
        maxLongTaskMs: tasks.reduce((m, x) => Math.max(m, x.duration), 0),
        frames: p.frames,
        maxFrameGapMs: p.maxFrameGap,
        shownLive: shown,
        domRows: document.querySelectorAll('.msg').length,
      };
    })()`)) as {
      supported: boolean;
      longTasks: number;
      maxLongTaskMs: number;
      frames: number;
      maxFrameGapMs: number;
      shownLive: number;
      domRows: number;
    };
    const afterLoad = await measure();

    // Every message can be seen: scroll back up through the whole burst (older pages load as needed).
    const scrolled = (await reader.page.evaluate(
      `(async () => {
        const sc = document.querySelector('.msg-scroller');
        const ids = window.__probe.renderedIds;
        const frame = () => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
        const deadline = performance.now() + 240000;
        let steps = 0;
        // Until the row before the burst (the warm-up message) has been on screen.
        while (!ids.has(${firstId - 1}) && performance.now() < deadline) {
          const top = sc.scrollTop;
          sc.scrollTop = Math.max(0, top - sc.clientHeight * 0.8);
          steps++;
          await frame();
          if (top === 0) await new Promise((r) => setTimeout(r, 50));
        }
        let shown = 0;
        for (let id = ${firstId}; id <= ${lastId}; id++) if (ids.has(id)) shown++;
        return { shown, steps };
      })()`,
    )) as { shown: number; steps: number };
    const afterScroll = await measure();

    const report = {
      messages: TOTAL,
      sendSeconds: +sendSeconds.toFixed(2),
      lastShownAfterSendEndS: +catchUpSeconds.toFixed(2),
      shownWhileStreaming: live.shownLive,
      shownAfterScrollingBack: scrolled.shown,
      longTasks: live.longTasks,
      maxLongTaskMs: Math.round(live.maxLongTaskMs),
      frames: live.frames,
      maxFrameGapMs: Math.round(live.maxFrameGapMs),
      messageRowsInDom: live.domRows,
      heapMB: {
        before: +before.heapMB.toFixed(1),
        afterLoad: +afterLoad.heapMB.toFixed(1),
        afterScrollBack: +afterScroll.heapMB.toFixed(1),
      },
      domNodes: { before: before.nodes, afterLoad: afterLoad.nodes, afterScrollBack: afterScroll.nodes },
    };
    t.diagnostic(`stress: ${JSON.stringify(report)}`);
    console.log('web stress result', JSON.stringify(report, null, 2));

    assert.ok(live.supported, 'Chromium reports long tasks');
    assert.equal(scrolled.shown, TOTAL, 'every message is in the chat');
    assert.ok(live.maxLongTaskMs < 100, `longest main-thread task ${live.maxLongTaskMs} ms`);
    assert.ok(live.domRows < 200, `only visible rows are in the DOM (${live.domRows})`);
    assert.ok(afterLoad.heapMB - before.heapMB < 30, `heap grew ${afterLoad.heapMB - before.heapMB} MB`);
    assert.ok(afterLoad.nodes - before.nodes < 2000, `DOM nodes grew by ${afterLoad.nodes - before.nodes}`);
  });
});
