/**
 * The deployment files, checked statically and against a live cluster:
 * - docker-compose.yml: every gmessenger variable exists in CONFIG_SPEC and parses; ports, node ids and
 *   addresses agree with grafana/prometheus.yml and deploy/haproxy.cfg; `docker-compose config` accepts it.
 * - promtool: the alert rules, their unit tests and the compose Prometheus config.
 * - dashboards and alerts name only metrics that exist, and every catalog metric is on a dashboard.
 * - live (ops-live.test.ts): a 2-gateway, 2-shard cluster under a short load, scraped every second by a real Prometheus that
 *   loads grafana/alerts.yml. Every dashboard panel query, template variable and alert signal must parse and
 *   return series; Prometheus must evaluate every rule without error. The same deploy/haproxy.cfg runs in
 *   front of the gateways and carries HTTP and WebSocket traffic; the container healthcheck script is run.
 *
 * Queries that legitimately have no series on a healthy cluster (no 5xx, no chat lease ever lost, no
 * dropped sockets, no webhook retries) are written `... or on() vector(0)` in the dashboards and alerts,
 * so they return a zero instead of nothing. Retries and dead letters are produced here anyway: the relay
 * calls a local webhook that fails for one offline recipient.
 *
 * Tools come from Debian packages (prometheus, haproxy, docker-compose), installed when missing if the
 * test runs as root; otherwise the checks that need them are skipped with the reason printed.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { CASSANDRA_VERSION } from '../../launcher/cassandra-node.js';
import path from 'node:path';
import { before, describe, test } from 'node:test';
import { CONFIG_SPEC, loadConfig } from '../../common/config.js';
import { ROOT } from '../../launcher/index.js';
import { readCompose, readHaproxyServers, readScrapeTargets, type ComposeService } from './config-files.js';
import { ensureTool, run } from './prometheus.js';

import {
  ALERT_TESTS,
  ALERTS,
  COMPOSE,
  dashboards,
  DATASOURCES,
  ENTRY_KIND,
  file,
  HAPROXY,
  knownMetricNames,
  panelQueries,
  PROMETHEUS_YML,
  SERVICE_JOBS,
} from './deployment.js';

// ---------------------------------------------------------------- static checks

describe('docker-compose.yml', () => {
  const services = readCompose(fs.readFileSync(COMPOSE, 'utf8'), 'docker-compose.yml');
  const gm = services.filter((s) => s.image.startsWith('gmessenger:'));
  const kindOf = (s: ComposeService) => ENTRY_KIND[/'(dist\/[^']+)'/.exec(s.command)?.[1] ?? ''] ?? '';
  const envNames = new Set(Object.values(CONFIG_SPEC).map((s) => s.env));
  /** `${VAR:-default}` as compose interpolates it with nothing exported. */
  const interpolate = (v: string) => v.replace(/\$\{\w+:?-([^}]*)\}/g, '$1');

  test('runs every service kind, the migration, Redis, Cassandra, a load balancer, Prometheus and Grafana', () => {
    const kinds = gm.map(kindOf).sort();
    assert.deepEqual(kinds, ['gateway', 'gateway', 'migrate', 'presence', 'relay', 'shard', 'shard']);
    const images = services.map((s) => s.image.split(':')[0]);
    for (const image of ['redis', 'cassandra', 'haproxy', 'prom/prometheus', 'grafana/grafana-oss']) {
      assert.ok(images.includes(image), `no ${image} service`);
    }
    // The same release the tests run against (launcher/cassandra-node.ts).
    assert.match(
      fs.readFileSync(COMPOSE, 'utf8'),
      new RegExp(`image: cassandra:${CASSANDRA_VERSION.replace(/\./g, '\\.')}\\b`),
    );
  });

  test('every gmessenger variable exists in CONFIG_SPEC and loads', () => {
    for (const s of gm) {
      const unknown = [...s.env.keys()].filter((k) => !envNames.has(k));
      assert.deepEqual(unknown, [], `${s.name}: variables not in common/config.ts CONFIG_SPEC`);
      const env = Object.fromEntries([...s.env].map(([k, v]) => [k, interpolate(v)]));
      const config = loadConfig(kindOf(s), env);
      assert.equal(config.store, 'cassandra', `${s.name}: STORE`);
      assert.equal(config.nodeId, s.name, `${s.name}: NODE_ID is the compose service name`);
      assert.deepEqual(config.cassandraContactPoints, ['cassandra:9042']);
      assert.equal(config.redisUrl, 'redis://redis:6379');
    }
  });

  test('ports, addresses and node ids agree with prometheus.yml and haproxy.cfg', () => {
    const jobs = readScrapeTargets(PROMETHEUS_YML);
    const byName = new Map(gm.map((s) => [s.name, s]));
    const grpcAddr = (name: string) => byName.get(name)?.env.get('GRPC_ADVERTISE');
    for (const s of gm.filter((x) => kindOf(x) !== 'migrate')) {
      const kind = kindOf(s);
      const env = s.env;
      assert.equal(env.get('METRICS_HOST'), '0.0.0.0', `${s.name}: METRICS_HOST`);
      assert.ok(
        jobs.get(kind)?.includes(`${s.name}:${env.get('METRICS_PORT')}`),
        `${s.name}: prometheus.yml job ${kind} does not scrape ${s.name}:${env.get('METRICS_PORT')}`,
      );
      assert.equal(env.get('RELAY_ADDR'), grpcAddr('relay'), `${s.name}: RELAY_ADDR`);
      assert.equal(env.get('PRESENCE_ADDR'), grpcAddr('presence'), `${s.name}: PRESENCE_ADDR`);
      if (kind === 'gateway') {
        assert.equal(env.get('HTTP_HOST'), '0.0.0.0', `${s.name}: HTTP_HOST`);
        assert.equal(env.get('TRUST_PROXY'), 'true', `${s.name}: TRUST_PROXY (behind HAProxy)`);
      } else {
        assert.equal(env.get('GRPC_HOST'), '0.0.0.0', `${s.name}: GRPC_HOST`);
        assert.equal(
          env.get('GRPC_ADVERTISE'),
          `${s.name}:${env.get('GRPC_PORT')}`,
          `${s.name}: GRPC_ADVERTISE`,
        );
      }
    }
    for (const job of SERVICE_JOBS) {
      const expected = gm
        .filter((s) => kindOf(s) === job)
        .map((s) => `${s.name}:${s.env.get('METRICS_PORT')}`);
      assert.deepEqual(jobs.get(job)?.sort(), expected.sort(), `prometheus.yml job ${job} targets`);
    }
    const gateways = gm.filter((s) => kindOf(s) === 'gateway');
    assert.deepEqual(
      readHaproxyServers(HAPROXY, 'gateways'),
      gateways.map((g) => ({ name: g.name, address: `${g.name}:${g.env.get('HTTP_PORT')}` })),
    );
    const checkPort = /default-server check port (\d+)/.exec(fs.readFileSync(HAPROXY, 'utf8'))?.[1];
    for (const g of gateways)
      assert.equal(g.env.get('METRICS_PORT'), checkPort, `${g.name}: HAProxy checks /readyz there`);
  });

  test('docker-compose config accepts the file and resolves the same environments', (t) => {
    const missing = ensureTool('docker-compose', 'docker-compose');
    if (missing) return t.skip(missing);
    const result = run('docker-compose', ['-f', COMPOSE, 'config'], ROOT);
    assert.equal(result.code, 0, result.output);
    const resolved = readCompose(result.output, 'docker-compose config output');
    for (const s of gm) {
      const r = resolved.find((x) => x.name === s.name);
      assert.ok(r, `docker-compose config lost ${s.name}`);
      assert.deepEqual([...r.env.keys()].sort(), [...s.env.keys()].sort(), `${s.name}: environment`);
    }
  });
});

describe('Prometheus configuration and rules (promtool)', () => {
  let missing: string | null = null;
  before(() => {
    missing = ensureTool('promtool', 'prometheus');
    if (missing) console.log(`# promtool checks skipped: ${missing}`);
  });

  test('promtool check rules grafana/alerts.yml', (t) => {
    if (missing) return t.skip(missing);
    const r = run('promtool', ['check', 'rules', ALERTS]);
    assert.equal(r.code, 0, r.output);
  });

  test('promtool test rules grafana/alerts.test.yml: every alert fires when it should, and only then', (t) => {
    if (missing) return t.skip(missing);
    const r = run('promtool', ['test', 'rules', ALERT_TESTS], path.dirname(ALERT_TESTS));
    assert.equal(r.code, 0, r.output);
    const alerts = [...fs.readFileSync(ALERTS, 'utf8').matchAll(/^\s*- alert: (\w+)/gm)].map((m) => m[1]);
    const tested = fs.readFileSync(ALERT_TESTS, 'utf8');
    for (const a of alerts) assert.match(tested, new RegExp(`alertname: ${a}\\b`), `${a} has no unit test`);
  });

  test('promtool check config grafana/prometheus.yml (the compose Prometheus)', (t) => {
    if (missing) return t.skip(missing);
    const r = run('promtool', ['check', 'config', PROMETHEUS_YML]);
    assert.equal(r.code, 0, r.output);
  });

  test('haproxy -c accepts deploy/haproxy.cfg', (t) => {
    const noHaproxy = ensureTool('haproxy', 'haproxy');
    if (noHaproxy) return t.skip(noHaproxy);
    const r = run('haproxy', ['-c', '-f', HAPROXY]);
    assert.equal(r.code, 0, r.output);
  });
});

describe('dashboards and alert rules', () => {
  test('dashboards are provisionable: unique uids and panel ids, the provisioned datasource, 24-column grid', () => {
    const uid = /uid:\s*([\w-]+)/.exec(fs.readFileSync(DATASOURCES, 'utf8'))?.[1];
    const uids = new Set<string>();
    for (const { file: f, json } of dashboards()) {
      assert.ok(json.uid && !uids.has(json.uid), `${f}: uid`);
      uids.add(json.uid);
      const ids = new Set<number>();
      for (const p of json.panels.flatMap((x) => [x, ...(x.panels ?? [])])) {
        assert.ok(!ids.has(p.id), `${f}: duplicate panel id ${p.id}`);
        ids.add(p.id);
        assert.ok(p.gridPos.x + p.gridPos.w <= 24, `${f} "${p.title}": wider than the grid`);
        if (p.type === 'row') continue;
        assert.equal(p.datasource?.uid, uid, `${f} "${p.title}": datasource`);
        assert.ok(p.targets?.length, `${f} "${p.title}": no queries`);
      }
    }
    assert.deepEqual([...uids].sort(), ['gm-overview', 'gm-service']);
  });

  test('dashboards and alerts name only existing metrics, and every catalog metric is on a dashboard', async () => {
    const { catalog, all } = await knownMetricNames();
    const queries = panelQueries().map((q) => q.expr);
    const alertText = fs.readFileSync(ALERTS, 'utf8');
    const names = (text: string) => [...text.matchAll(/\bgm_[a-z0-9_]+/g)].map((m) => m[0]);
    const unknown = [...new Set([...queries.flatMap(names), ...names(alertText)])].filter((n) => !all.has(n));
    assert.deepEqual(unknown, [], 'metrics that no service exports (typo, or add them to common/metrics.ts)');
    const onDashboards = new Set(queries.flatMap(names).map((n) => n.replace(/_(bucket|count|sum)$/, '')));
    const missing = [...catalog].filter((n) => !onDashboards.has(n));
    assert.deepEqual(missing, [], 'catalog metrics no dashboard shows');
  });

  test('every alert is `<signal> <comparison> <threshold>` with a runbook section in docs/OPERATIONS.md', () => {
    const text = fs.readFileSync(ALERTS, 'utf8');
    const ops = fs.readFileSync(file('docs/OPERATIONS.md'), 'utf8');
    const alerts = [...text.matchAll(/^\s*- alert: (\w+)/gm)].map((m) => m[1]!);
    assert.ok(alerts.length >= 6);
    for (const name of alerts) {
      assert.match(ops, new RegExp(`^### ${name}$`, 'm'), `docs/OPERATIONS.md has no "### ${name}" section`);
      assert.match(
        text,
        new RegExp(`runbook: docs/OPERATIONS.md#${name.toLowerCase()}\\b`),
        `${name}: runbook link`,
      );
    }
  });
});
