// The test runner behind `npm test`.
//
//   node scripts/run-tests.mjs --all            install/build as needed, lint, typecheck, build, every test
//   node scripts/run-tests.mjs [filter ...]     build, then the test files whose path (source or dist) contains a filter
//   node scripts/run-tests.mjs --no-build ...   skip the build (dist/ is already fresh)
//
// On a fresh clone it first does what `npm start` does (scripts/setup.mjs): installs the locked
// dependencies, and as root on Debian the system packages the tests drive (redis-server, Java and
// Maven for Cassandra, Chromium, Prometheus, HAProxy, docker-compose).
//
// Tests are the compiled dist/**/*.test.js files (tsconfig compiles *.test.ts into dist/), run by
// node's own test runner, one process per file, TEST_CONCURRENCY files at a time (default 2). Node 20
// applies --test-timeout to each file as a whole: TEST_TIMEOUT_MS (default 600000) bounds a file, and
// tests set their own `timeout` option. Exits with the test runner's status; its summary comes last.
//
// When a selected file needs Cassandra (the store conformance suite, *cassandra* files), one local
// Cassandra node (launcher/cassandra-node.ts, commit log synced per write) is started for the whole
// run and named to the tests by TEST_CASSANDRA_CONTACT_POINTS; each test cluster or suite works in
// its own keyspace. TEST_CASSANDRA_CONTACT_POINTS set by the caller uses that cluster instead. Where
// no node can be started, CI fails with the reason; elsewhere the Cassandra cases say why they skip.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { ROOT, ensureDependencies, ensureJava, ensureSystemPackages, requireNode20 } from './setup.mjs';

const args = process.argv.slice(2);
const all = args.includes('--all');
const build = !args.includes('--no-build');
const filters = args.filter((a) => !a.startsWith('--'));
const concurrency = Number(process.env.TEST_CONCURRENCY ?? 2);
const timeoutMs = Number(process.env.TEST_TIMEOUT_MS ?? 600_000);
const inCi = Boolean(process.env.CI) && process.env.CI !== 'false';

function step(name, command, commandArgs) {
  const started = Date.now();
  console.log(`\n==> ${name}: ${[command, ...commandArgs].join(' ')}`);
  const result = spawnSync(command, commandArgs, { cwd: ROOT, stdio: 'inherit' });
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  if (result.status !== 0) {
    console.log(`==> ${name} failed after ${seconds} s`);
    process.exit(result.status ?? 1);
  }
  console.log(`==> ${name} passed in ${seconds} s`);
}

/** Compiled test files whose source still exists (dist/ may hold leftovers of deleted tests). */
function testFiles() {
  const found = [];
  const walk = (rel) => {
    for (const entry of fs.readdirSync(path.join(ROOT, rel), { withFileTypes: true })) {
      const child = path.posix.join(rel, entry.name);
      if (entry.isDirectory()) {
        if (entry.name !== 'node_modules') walk(child);
      } else if (entry.name.endsWith('.test.js')) {
        const source = child.slice('dist/'.length).replace(/\.js$/, '.ts');
        if (fs.existsSync(path.join(ROOT, source))) found.push({ file: child, source });
      }
    }
  };
  if (fs.existsSync(path.join(ROOT, 'dist'))) walk('dist');
  return found.sort((a, b) => a.file.localeCompare(b.file));
}

/** Test files that talk to Cassandra. */
function needsCassandra(file) {
  return /cassandra/.test(file) || file.includes('store.contract');
}

/** Starts the run's Cassandra node; null (with the reason printed) when none can be had here. */
async function startCassandra() {
  const missing = ensureJava();
  const { startCassandraNode, cassandraPrerequisites } = await import(
    pathToFileURL(path.join(ROOT, 'dist/launcher/cassandra-node.js')).href
  );
  const reason = missing.length > 0 ? `${missing.join(' and ')} not found` : cassandraPrerequisites();
  if (reason) {
    console.log(`\n==> cassandra: cannot start a local node: ${reason}`);
    return { reason };
  }
  console.log('\n==> cassandra: starting one local node for this run');
  try {
    const node = await startCassandraNode({ log: (line) => console.log(`    ${line}`) });
    console.log(
      `==> cassandra: Apache Cassandra ${node.releaseVersion} at ${node.contactPoint} (pid ${node.pid})`,
    );
    return { node };
  } catch (err) {
    console.log(`==> cassandra: the node did not start: ${err.message}`);
    return { reason: `the node did not start: ${err.message.split('\n')[0]}` };
  }
}

requireNode20();
if (!ensureDependencies()) process.exit(1);
if (all) {
  ensureSystemPackages({
    'redis-server': 'redis-server',
    chromium: 'chromium',
    git: 'git',
    prometheus: 'prometheus',
    haproxy: 'haproxy',
    'docker-compose': 'docker-compose',
  });
  step('lint', 'npm', ['run', 'lint']);
  step('typecheck', 'npm', ['run', 'typecheck']);
}
if (build || all) step('build', 'npm', ['run', 'build']);

const files = testFiles()
  .filter(
    (t) =>
      filters.length === 0 || filters.some((filter) => t.file.includes(filter) || t.source.includes(filter)),
  )
  .map((t) => t.file);
if (files.length === 0) {
  console.log(
    filters.length ? `no test file in dist/ matches ${filters.join(', ')}` : 'no test files in dist/',
  );
  process.exit(1);
}

const env = { ...process.env };
let cassandra = null;
if (files.some(needsCassandra) && !env.TEST_CASSANDRA_CONTACT_POINTS) {
  const started = await startCassandra();
  if (started.node) {
    cassandra = started.node;
    env.TEST_CASSANDRA_CONTACT_POINTS = cassandra.contactPoint;
    env.TEST_CASSANDRA_VERSION = cassandra.releaseVersion;
  } else if (inCi) {
    console.log(`==> cassandra is required in CI: ${started.reason}`);
    process.exit(1);
  } else {
    env.TEST_CASSANDRA_UNAVAILABLE = started.reason;
  }
}
const stopCassandra = () => {
  if (cassandra?.pid) {
    try {
      process.kill(cassandra.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
};
process.on('exit', stopCassandra);
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    stopCassandra();
    process.exit(130);
  });
}

const nodeArgs = [
  '--test',
  '--test-reporter=spec',
  `--test-concurrency=${concurrency}`,
  `--test-timeout=${timeoutMs}`,
  ...files,
];
console.log(
  `\n==> tests: ${files.length} file(s), ${concurrency} at a time, ${timeoutMs / 1000} s per file at most`,
);
const result = spawnSync(process.execPath, nodeArgs, { cwd: ROOT, stdio: 'inherit', env });
if (cassandra) await cassandra.stop();
process.exit(result.status ?? 1);
