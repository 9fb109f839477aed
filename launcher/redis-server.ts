/**
 * Running a local redis-server: its command line and a readiness probe that
 * speaks just enough RESP to send PING (no client library needed, so the
 * launcher can check Redis before any service starts).
 */
import net from 'node:net';

export interface RedisServerOptions {
  port: number;
  /** Working dir: AOF files (appendonlydir/) live here. */
  dir: string;
  /** Absolute path of redis-server's own log; '' logs to stdout. */
  logFile: string;
  /** @default true */
  appendonly?: boolean;
  /** @default 'everysec' */
  appendfsync?: 'always' | 'everysec' | 'no';
  /** @default '127.0.0.1' */
  host?: string;
}

/** Arguments for `redis-server`: AOF persistence, no RDB snapshots, loopback only by default. */
export function redisServerArgs(options: RedisServerOptions): string[] {
  return [
    '--port',
    String(options.port),
    '--bind',
    options.host ?? '127.0.0.1',
    '--dir',
    options.dir,
    '--appendonly',
    options.appendonly === false ? 'no' : 'yes',
    '--appendfsync',
    options.appendfsync ?? 'everysec',
    '--save',
    '',
    '--daemonize',
    'no',
    '--logfile',
    options.logFile,
  ];
}

/**
 * One PING over a fresh connection. Resolves with the first reply line
 * (`+PONG`, `-LOADING ...`, `-NOAUTH ...`) or null when nothing answers in time.
 */
export function pingRedis(port: number, host = '127.0.0.1', timeoutMs = 1000): Promise<string | null> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host });
    let reply = '';
    const done = (result: string | null) => {
      socket.destroy();
      clearTimeout(timer);
      resolve(result);
    };
    const timer = setTimeout(() => done(null), timeoutMs);
    socket.setEncoding('utf8');
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.on('data', (chunk: string) => {
      reply += chunk;
      const end = reply.indexOf('\r\n');
      if (end >= 0) done(reply.slice(0, end));
    });
    socket.once('error', () => done(null));
  });
}

/**
 * Waits until Redis on `port` answers PONG (it answers LOADING while it
 * replays its AOF). Rejects at the deadline, or as soon as `exited()` says the
 * server process is gone.
 */
export async function waitForRedis(
  port: number,
  options: { host?: string; timeoutMs?: number; exited?: () => boolean } = {},
): Promise<void> {
  const deadline = Date.now() + (options.timeoutMs ?? 30_000);
  let last: string | null = null;
  while (Date.now() < deadline) {
    if (options.exited?.()) throw new Error(`redis-server on port ${port} exited before it was ready`);
    last = await pingRedis(port, options.host);
    if (last === '+PONG') return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(
    `redis-server on port ${port} not ready after ${options.timeoutMs ?? 30_000} ms (last reply: ${last})`,
  );
}
