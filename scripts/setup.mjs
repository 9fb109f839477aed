// What `npm start` and `npm test` do before anything else on a fresh clone: install dependencies when
// node_modules is missing or does not match package-lock.json, build when dist/ is missing or older than
// the sources, and install missing system packages (redis-server, Java and Maven for the local Cassandra
// node, the browsers and tools the tests drive) with apt-get when running as root on Debian.
// Plain JavaScript with no dependencies, because it runs before anything is installed.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const SERVICE_ENTRIES = ['launcher', 'gateway', 'shards', 'relay', 'presence'].map(
  (d) => `dist/${d}/main.js`,
);

export function say(message) {
  console.error(`[gmessenger] ${message}`);
}

export function sh(command, args) {
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

/** Installs the locked dependencies when node_modules is missing or stale; false when that failed. */
export function ensureDependencies() {
  const drift = dependencyDrift();
  if (!drift) return true;
  say(`${drift}: installing dependencies`);
  const env = { ...process.env };
  // Native addons compile against the headers Node ships on Debian, so node-gyp downloads nothing.
  if (!env.npm_config_nodedir && fs.existsSync('/usr/include/node/node.h')) env.npm_config_nodedir = '/usr';
  const install = (args) => {
    say(`$ npm ${args.join(' ')}`);
    return spawnSync('npm', args, { cwd: ROOT, stdio: 'inherit', env }).status === 0;
  };
  if (install(['ci', '--no-audit', '--no-fund']) || install(['install', '--no-audit', '--no-fund']))
    return true;
  say('installing dependencies failed');
  return false;
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

/** Builds the services and the web client when their output is missing or older than the sources. */
export function buildIfStale() {
  const scripts = readJson('package.json').scripts ?? {};
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

export function onPath(command) {
  return (process.env.PATH ?? '').split(path.delimiter).some((dir) => {
    try {
      fs.accessSync(path.join(dir, command), fs.constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

function canApt() {
  const root = typeof process.getuid === 'function' && process.getuid() === 0;
  return root && fs.existsSync('/etc/debian_version') && onPath('apt-get');
}

let aptUpdated = false;

/**
 * Installs the Debian packages of `wanted` ({ command: package }) whose command is missing, when root on
 * Debian. Returns the commands still missing afterwards (empty when all are there).
 */
export function ensureSystemPackages(wanted) {
  const missing = Object.entries(wanted).filter(([command]) => !onPath(command));
  if (missing.length === 0) return [];
  if (canApt()) {
    const packages = [...new Set(missing.map(([, pkg]) => pkg))];
    say(`${missing.map(([c]) => c).join(', ')} not found: installing ${packages.join(' ')} with apt-get`);
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    const apt = (args) => spawnSync('apt-get', args, { cwd: ROOT, stdio: 'inherit', env }).status === 0;
    if (!aptUpdated) aptUpdated = apt(['update', '-q']);
    apt(['install', '-y', '-q', '--no-install-recommends', ...packages]);
  }
  return Object.keys(wanted).filter((command) => !onPath(command));
}

/** redis-server on PATH (installed when root on Debian) or REDIS_URL set; false with a hint otherwise. */
export function ensureRedis() {
  if (process.env.REDIS_URL) return true;
  if (ensureSystemPackages({ 'redis-server': 'redis-server' }).length === 0) return true;
  const how =
    process.platform === 'darwin'
      ? 'brew install redis'
      : fs.existsSync('/etc/debian_version')
        ? 'sudo apt-get install -y redis-server'
        : "install Redis 7 with your system's package manager";
  say(`redis-server is not on PATH: ${how} (or set REDIS_URL to an existing Redis), then run again`);
  return false;
}

/** Java and Maven for the local Cassandra node (installed when root on Debian); the commands still missing. */
export function ensureJava() {
  return ensureSystemPackages({ java: 'openjdk-17-jre-headless', mvn: 'maven' });
}

/** Exits when Node is older than 20. */
export function requireNode20() {
  const major = Number(process.versions.node.split('.')[0]);
  if (major < 20) {
    say(`Node.js 20 or newer is required (this is ${process.version})`);
    process.exit(1);
  }
}
