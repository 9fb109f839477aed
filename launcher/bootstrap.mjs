// `npm start` on a fresh clone: installs dependencies when node_modules is missing or does not
// match package-lock.json, builds when dist/ is missing or older than the sources, makes sure
// redis-server is available, then runs dist/launcher/main.js with the same arguments.
// Plain JavaScript with no dependencies, because it runs before anything is installed.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const SERVICE_ENTRIES = ['launcher', 'gateway', 'shards', 'relay', 'presence'].map(
  (d) => `dist/${d}/main.js`,
);

function say(message) {
  console.error(`[gmessenger] ${message}`);
}

function sh(command, args) {
  say(`$ ${[command, ...args].join(' ')}`);
  const result = spawnSync(command, args, { cwd: ROOT, stdio: 'inherit' });
  return result.status === 0;
}

function readJson(file) {
  return JSON.parse(fs.readFileSync(path.join(ROOT, file), 'utf8'));
}

/** Why node_modules does not match package-lock.json, or null when it does. */
function dependencyDrift() {
  if (!fs.existsSync(path.join(ROOT, 'node_modules'))) return 'node_modules is missing';
  const lock = readJson('package-lock.json');
  for (const [where, meta] of Object.entries(lock.packages ?? {})) {
    if (!where.startsWith('node_modules/') || meta.link) continue;
    let installed;
    try {
      installed = JSON.parse(fs.readFileSync(path.join(ROOT, where, 'package.json'), 'utf8')).version;
    } catch {
      if (meta.optional) continue; // platform-specific builds for other systems
      return `${where} is missing`;
    }
    if (meta.version && installed !== meta.version)
      return `${where} is ${installed}, package-lock.json wants ${meta.version}`;
  }
  return null;
}

/** Newest modification time of the files under `dirs` (recursively), skipping `skip` folders. */
function newestMtime(dirs, skip) {
  let newest = 0;
  const visit = (rel) => {
    let stat;
    try {
      stat = fs.statSync(path.join(ROOT, rel));
    } catch {
      return;
    }
    if (stat.isDirectory()) {
      if (skip.some((s) => rel === s || rel.startsWith(s + '/'))) return;
      for (const name of fs.readdirSync(path.join(ROOT, rel))) visit(path.posix.join(rel, name));
    } else {
      newest = Math.max(newest, stat.mtimeMs);
    }
  };
  dirs.forEach(visit);
  return newest;
}

/** Oldest modification time of `files`, or -1 when one is missing. */
function oldestMtime(files) {
  let oldest = Infinity;
  for (const file of files) {
    try {
      oldest = Math.min(oldest, fs.statSync(path.join(ROOT, file)).mtimeMs);
    } catch {
      return -1;
    }
  }
  return oldest;
}

function buildIfStale(scripts) {
  const tsconfig = readJson('tsconfig.json');
  const sources = [...(tsconfig.include ?? []), 'tsconfig.json'];
  const skip = ['node_modules', 'dist', ...(tsconfig.exclude ?? [])];
  const built = oldestMtime(SERVICE_ENTRIES);
  if (built < 0 || newestMtime(sources, skip) > built) {
    say(built < 0 ? 'dist/ is missing: building' : 'sources changed since the last build: building');
    if (!sh('npm', ['run', 'build'])) return false;
  }
  if (scripts['build:web'] && fs.existsSync(path.join(ROOT, 'web'))) {
    const web = oldestMtime(['web/dist/index.html']);
    if (web < 0 || newestMtime(['web'], ['web/dist', 'web/node_modules']) > web) {
      say(web < 0 ? 'web/dist is missing: building the web client' : 'web client changed: rebuilding it');
      if (!sh('npm', ['run', 'build:web'])) return false;
    }
  }
  return true;
}

function onPath(command) {
  return (process.env.PATH ?? '').split(path.delimiter).some((dir) => {
    try {
      fs.accessSync(path.join(dir, command), fs.constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

function ensureRedis() {
  if (process.env.REDIS_URL || onPath('redis-server')) return true;
  const root = typeof process.getuid === 'function' && process.getuid() === 0;
  if (root && fs.existsSync('/etc/debian_version') && onPath('apt-get')) {
    say('redis-server not found: installing it with apt-get');
    return sh('apt-get', ['update']) && sh('apt-get', ['install', '-y', 'redis-server']);
  }
  const how =
    process.platform === 'darwin'
      ? 'brew install redis'
      : fs.existsSync('/etc/debian_version')
        ? 'sudo apt-get install -y redis-server'
        : "install Redis 7 with your system's package manager";
  say(
    `redis-server is not on PATH: ${how} (or set REDIS_URL to an existing Redis), then run npm start again`,
  );
  return false;
}

function main() {
  const major = Number(process.versions.node.split('.')[0]);
  if (major < 20) {
    say(`Node.js 20 or newer is required (this is ${process.version})`);
    return 1;
  }
  const drift = dependencyDrift();
  if (drift) {
    say(`${drift}: installing dependencies`);
    if (!sh('npm', ['ci', '--no-audit', '--no-fund']) && !sh('npm', ['install', '--no-audit', '--no-fund'])) {
      say('installing dependencies failed');
      return 1;
    }
  }
  if (!buildIfStale(readJson('package.json').scripts ?? {})) {
    say('the build failed; fix the errors above and run npm start again');
    return 1;
  }
  if (!ensureRedis()) return 1;

  const child = spawn(
    process.execPath,
    [path.join(ROOT, 'dist/launcher/main.js'), ...process.argv.slice(2)],
    {
      cwd: ROOT,
      stdio: 'inherit',
    },
  );
  // The launcher stops the cluster in order; a signal sent to this process only is passed on.
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    process.on(signal, () => child.kill(signal));
  }
  child.on('exit', (code, signal) => process.exit(code ?? (signal === 'SIGINT' ? 130 : 1)));
  return null;
}

const code = main();
if (code !== null) process.exit(code);
