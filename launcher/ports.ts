/**
 * TCP port selection for the launcher and the test harness.
 *
 * Test clusters take ports from below the kernel's ephemeral range, so an
 * outgoing connection (a WebSocket client, a Redis connection) can never grab a
 * port between the moment it is chosen and the moment the service binds it.
 * Concurrent test processes coordinate through one lock file per port in the
 * temp dir holding the owner's pid; a lock whose owner is gone is stale.
 */
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

const LOCK_DIR = path.join(os.tmpdir(), 'gmessenger-ports');
const reservedHere = new Set<number>();

/** True when `port` can be bound on `host` right now (no SO_REUSEPORT, so a shared uWS port counts as busy). */
export function portIsFree(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen({ port, host, exclusive: true }, () => server.close(() => resolve(true)));
  });
}

/** A port the OS considers free right now (bind to port 0). */
export function anyFreePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen({ port: 0, host, exclusive: true }, () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

function ephemeralLow(): number {
  try {
    const [low] = fs.readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/);
    const n = Number(low);
    return Number.isInteger(n) && n > 1024 ? n : 32768;
  } catch {
    return 32768;
  }
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Takes the cross-process lock of `port`; false when another live process holds it. */
function lockPort(port: number): boolean {
  fs.mkdirSync(LOCK_DIR, { recursive: true });
  const file = path.join(LOCK_DIR, String(port));
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      fs.writeFileSync(file, String(process.pid), { flag: 'wx' });
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const owner = Number(fs.readFileSync(file, 'utf8'));
      if (owner === process.pid || (Number.isInteger(owner) && owner > 0 && pidAlive(owner))) return false;
      fs.rmSync(file, { force: true });
    }
  }
  return false;
}

/**
 * Reserves a free port for this process: random, below the ephemeral range,
 * bindable now and locked against other processes using this module until
 * {@link releasePorts} or the process exits. Falls back to an OS-chosen port.
 */
export async function reservePort(host = '127.0.0.1'): Promise<number> {
  const high = ephemeralLow();
  const low = Math.min(20000, high - 2000);
  for (let attempt = 0; attempt < 100 && low > 1024; attempt++) {
    const port = low + Math.floor(Math.random() * (high - low));
    if (reservedHere.has(port) || !lockPort(port)) continue;
    if (await portIsFree(port, host)) {
      reservedHere.add(port);
      return port;
    }
    fs.rmSync(path.join(LOCK_DIR, String(port)), { force: true });
  }
  return anyFreePort(host);
}

/** Drops the locks of ports from {@link reservePort} once nothing of ours listens on them. */
export function releasePorts(ports: Iterable<number>): void {
  for (const port of ports) {
    if (!reservedHere.delete(port)) continue;
    try {
      if (Number(fs.readFileSync(path.join(LOCK_DIR, String(port)), 'utf8')) === process.pid) {
        fs.rmSync(path.join(LOCK_DIR, String(port)), { force: true });
      }
    } catch {
      // The lock is already gone.
    }
  }
}

process.on('exit', () => releasePorts([...reservedHere]));
