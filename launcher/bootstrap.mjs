// `npm start` on a fresh clone: installs dependencies when node_modules is missing or does not
// match package-lock.json, builds when dist/ is missing or older than the sources, makes sure
// redis-server (and, for `--store cassandra`, Java and Maven) is available, then runs
// dist/launcher/main.js with the same arguments.
// Plain JavaScript with no dependencies, because it runs before anything is installed.
import { spawn } from 'node:child_process';
import path from 'node:path';
import {
  ROOT,
  buildIfStale,
  ensureDependencies,
  ensureJava,
  ensureRedis,
  requireNode20,
  say,
} from '../scripts/setup.mjs';

function wantsCassandra(argv) {
  const i = argv.findIndex((a) => a === '--store' || a.startsWith('--store='));
  if (i < 0) return process.env.STORE === 'cassandra' && !process.env.CASSANDRA_CONTACT_POINTS;
  const value = argv[i].includes('=') ? argv[i].split('=')[1] : argv[i + 1];
  return value === 'cassandra' && !process.env.CASSANDRA_CONTACT_POINTS;
}

function main() {
  requireNode20();
  if (!ensureDependencies()) return 1;
  if (!buildIfStale()) {
    say('the build failed; fix the errors above and run npm start again');
    return 1;
  }
  if (!ensureRedis()) return 1;
  const args = process.argv.slice(2);
  if (wantsCassandra(args)) {
    const missing = ensureJava();
    if (missing.length > 0) {
      say(
        `--store cassandra starts a local Cassandra node, which needs ${missing.join(' and ')} (Debian: apt-get install -y openjdk-17-jre-headless maven), or set CASSANDRA_CONTACT_POINTS to an existing cluster`,
      );
      return 1;
    }
  }

  const child = spawn(process.execPath, [path.join(ROOT, 'dist/launcher/main.js'), ...args], {
    cwd: ROOT,
    stdio: 'inherit',
  });
  // The launcher stops the cluster in order; a signal sent to this process only is passed on.
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    process.on(signal, () => child.kill(signal));
  }
  child.on('exit', (code, signal) => process.exit(code ?? (signal === 'SIGINT' ? 130 : 1)));
  return null;
}

const code = main();
if (code !== null) process.exit(code);
