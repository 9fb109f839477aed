import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Histogram } from '../lib/histogram.js';
import type { RestResult } from '../rest.js';
import type { DialogResult } from '../scenarios/dialog.js';
import { renderMarkdown } from './markdown.js';
import { checkTargets, find, type ScenarioEntry, type Store, type SuiteResult } from './model.js';
import { dialogTable, restTable, storeTable } from './tables.js';

function hist(ms: number[]) {
  const h = new Histogram();
  for (const v of ms) h.recordMs(v);
  return h.toJSON();
}

function dialog(
  id: 'dialog-saturate' | 'dialog-rate',
  store: Store | undefined,
  perSec: number,
  p99Ms: number,
) {
  const result = {
    mode: id === 'dialog-saturate' ? 'saturate' : 'rate',
    pairs: 100,
    durationMs: 8000,
    sent: perSec * 8,
    acked: perSec * 8,
    delivered: perSec * 8,
    lost: 0,
    unacked: 0,
    duplicates: 0,
    duplicateAcks: 0,
    outOfOrder: 0,
    errors: {},
    otherEvents: {},
    closed: 0,
    deliveredPerSec: perSec,
    ackedPerSec: perSec,
    e2e: hist([p99Ms]),
    ack: hist([p99Ms]),
    timeline: { slotMs: 1000, sent: [], delivered: [] },
    maxLagMs: 0,
    connectMs: 0,
    setupRetries: 0,
  } as DialogResult;
  return {
    id,
    title: id === 'dialog-saturate' ? 'dialogs, saturate' : 'dialogs, 2,000 msg/s',
    system: 'gmessenger',
    ...(store ? { store } : {}),
    kind: 'dialog',
    params: id === 'dialog-rate' ? { rate: 2000 } : { window: 8 },
    cpu: {
      'gateway-1': 0.5,
      'shard-1': 0.25,
      ...(store === 'cassandra' ? { cassandra: 0.75 } : {}),
      'load generator': 0.4,
    },
    wallMs: 10_000,
    result,
  } as ScenarioEntry;
}

function history(store: Store, perSec: number, p99Ms: number): ScenarioEntry {
  const result = {
    name: 'GET /dialog/{login}',
    connections: 32,
    durationS: 4,
    requests: perSec * 4,
    requestsPerSec: perSec,
    statuses: { '200': perSec * 4 },
    non2xx: 0,
    errors: 0,
    timeouts: 0,
    bytesPerResponse: 9000,
    latency: { p50Ms: 1, p90Ms: 2, p99Ms: p99Ms, maxMs: p99Ms },
    histogram: hist([p99Ms]),
    timeline: { slotMs: 1000, responses: [] },
  } as unknown as RestResult;
  return {
    id: 'rest-history',
    title: 'GET /dialog/{login}',
    system: 'gmessenger',
    store,
    kind: 'rest',
    params: {},
    cpu: { 'gateway-1': 1, ...(store === 'cassandra' ? { cassandra: 0.5 } : {}) },
    wallMs: 4000,
    result,
  };
}

function suite(scenarios: ScenarioEntry[]): SuiteResult {
  return {
    version: 1,
    startedAt: '2026-12-08T10:00:00.000Z',
    finishedAt: '2026-12-08T10:05:00.000Z',
    command: 'npm run bench -- --quick --store cassandra',
    quick: true,
    machine: {
      cpus: 2,
      cpuModel: 'test',
      memoryGiB: 8,
      kernel: 'Linux',
      node: 'v20',
      loadBefore: 0,
      loadAfter: 0,
      openFilesLimit: null,
    },
    target: { kind: 'local', description: 'local cluster, SQLite', env: {} },
    cassandra: { description: 'local cluster, Cassandra 5.0.8', version: '5.0.8' },
    peer: null,
    registration: null,
    scenarios,
  };
}

test('SQLite vs Cassandra: both figures, the ratio Cassandra / SQLite and the node CPU', () => {
  const s = suite([
    dialog('dialog-saturate', 'sqlite', 10_000, 40),
    dialog('dialog-rate', 'sqlite', 2000, 10),
    history('sqlite', 20_000, 5),
    dialog('dialog-saturate', 'cassandra', 5000, 80),
    dialog('dialog-rate', 'cassandra', 2000, 30),
    history('cassandra', 4000, 20),
  ]);
  const t = storeTable(s)!;
  assert.equal(t.title, 'SQLite vs Cassandra');
  assert.match(t.intro ?? '', /Cassandra 5\.0\.8/);
  const row = (name: string) => t.rows.find((r) => r[0] === name);
  assert.deepEqual(row('Dialogs, saturate: delivered msg/s'), [
    'Dialogs, saturate: delivered msg/s',
    '10,000',
    '5,000',
    '0.50×',
    '0.75',
    '0.75 / 1.50',
  ]);
  const p99 = row('Dialogs, saturate: e2e p99')!;
  assert.equal(p99[3], '2.00×');
  assert.equal(p99[4], '', 'the CPU is shown once per scenario');
  assert.equal(row('Dialogs, 2,000 msg/s: e2e p99')![3], '3.00×');
  assert.deepEqual(row('GET /dialog/{login}: requests/s')!.slice(1), [
    '20,000',
    '4,000',
    '0.20×',
    '0.50',
    '1.00 / 1.50',
  ]);
  assert.equal(row('GET /dialog/{login}: p99')![3], '4.00×');
  assert.equal(t.rows.length, 6);
});

test('the targets and the other tables read SQLite; the Cassandra rows say which store', () => {
  const s = suite([
    dialog('dialog-saturate', 'sqlite', 12_000, 40),
    dialog('dialog-saturate', 'cassandra', 3000, 90),
  ]);
  assert.equal(find<'dialog'>(s, 'dialog-saturate')?.result?.deliveredPerSec, 12_000);
  assert.equal(
    find<'dialog'>(s, 'dialog-saturate', 'gmessenger', 'cassandra')?.result?.deliveredPerSec,
    3000,
  );
  assert.equal(checkTargets(s)[0]!.measured, '12,000 msg/s');
  assert.deepEqual(
    dialogTable(s).rows.map((r) => r[1]),
    ['gmessenger, SQLite', 'gmessenger, Cassandra'],
  );
  const md = renderMarkdown(s);
  assert.match(md, /## SQLite vs Cassandra/);
  assert.match(md, /- On Cassandra: local cluster, Cassandra 5\.0\.8/);
});

test('a run without Cassandra has no store table, and results without a store read as SQLite', () => {
  const s = suite([dialog('dialog-saturate', undefined, 9000, 40), history('sqlite', 10_000, 5)]);
  delete s.cassandra;
  assert.equal(storeTable(s), undefined);
  assert.equal(find<'dialog'>(s, 'dialog-saturate')?.result?.deliveredPerSec, 9000);
  assert.equal(dialogTable(s).rows[0]![1], 'gmessenger');
  assert.equal(restTable(s)!.rows[0]![0], 'GET /dialog/{login}');
  assert.doesNotMatch(renderMarkdown(s), /SQLite vs Cassandra|On Cassandra/);
});

test('a Cassandra scenario that failed shows why, with no ratio', () => {
  const failed = { ...dialog('dialog-rate', 'cassandra', 0, 0), cpu: {}, error: 'node did not start' };
  delete (failed as { result?: unknown }).result;
  const s = suite([dialog('dialog-rate', 'sqlite', 2000, 10), failed]);
  const t = storeTable(s)!;
  assert.deepEqual(t.rows[0]!.slice(0, 4), [
    'Dialogs, 2,000 msg/s: delivered msg/s',
    '2,000',
    'failed: node did not start',
    '–',
  ]);
  assert.equal(t.rows[0]![5], '0.75 / –');
});
