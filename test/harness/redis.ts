/**
 * A real redis-server for one test: a free port, a fresh temp dir, AOF on by
 * default, and the controls failure tests need (graceful stop, SIGKILL,
 * restart on the same port and dir so the AOF is replayed).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { redisServerArgs, releasePorts, reservePort, waitForRedis } from '../../launcher/index.js';
import { removeDir, tail, testFailed, trackDir, trackPid, untrackPid, type TestLike } from './cleanup.js';

export interface StartRedisOptions {
  /** Persist every write to the append-only file (what `npm start` runs). @default true */
  appendonly?: boolean;
  /** AOF fsync policy; 'always' makes a SIGKILL lose nothing. @default 'everysec' */
  appendfsync?: 'always' | 'everysec' | 'no';
  /** When given, the server is destroyed after that test (its log printed if the test failed). */
  t?: TestLike;
}

export interface RedisServer {
  /** redis://127.0.0.1:<port> */
  readonly url: string;
  readonly port: number;
  /** Temp dir holding the AOF (appendonlydir/) and redis.log. */
  readonly dir: string;
  /** Pid of the running server; undefined while stopped. */
  readonly pid: number | undefined;
  readonly running: boolean;
  /** SIGTERM and wait: Redis flushes the AOF and exits. The dir is kept for restart(). */
  stop(): Promise<void>;
  /** SIGKILL and wait: writes not yet fsynced are lost (see `appendfsync`). */
  kill(): Promise<void>;
  /** Stops it if running (SIGTERM), then starts it on the same port and dir and waits for PONG. */
  restart(): Promise<void>;
  /** Kills it if running, removes the dir and frees the port. Idempotent. */
  destroy(): Promise<void>;
  /** The last `lines` lines of redis.log. */
  logs(lines?: number): string;
}

/** Starts redis-server on a free port with a fresh temp dir and waits until it answers PING. */
export async function startRedis(options: StartRedisOptions = {}): Promise<RedisServer> {
  const port = await reservePort();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gm-redis-'));
  trackDir(dir);
  const logFile = path.join(dir, 'redis.log');
  const args = redisServerArgs({
    port,
    dir,
    logFile,
    appendonly: options.appendonly,
    appendfsync: options.appendfsync,
  });
  let child: ChildProcess | null = null;
  let exited: Promise<void> = Promise.resolve();
  let destroyed = false;

  const launch = async (): Promise<void> => {
    const proc = spawn('redis-server', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    proc.stderr?.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    let gone = false;
    exited = new Promise((resolve) =>
      proc.once('close', () => {
        gone = true;
        untrackPid(proc.pid);
        if (child === proc) child = null;
        resolve();
      }),
    );
    const spawnError = new Promise<Error>((resolve) => proc.once('error', resolve));
    child = proc;
    trackPid(proc.pid);
    const failed = await Promise.race([
      waitForRedis(port, { exited: () => gone }).then(
        () => null,
        (err: Error) => err,
      ),
      spawnError.then((err) =>
        (err as NodeJS.ErrnoException).code === 'ENOENT'
          ? new Error('redis-server is not on PATH (Debian: apt-get install -y redis-server)')
          : err,
      ),
    ]);
    if (failed) {
      proc.kill('SIGKILL');
      await exited;
      throw new Error(`${failed.message}\n${stderr}${tail(logFile, 20)}`);
    }
  };

  const signal = async (sig: NodeJS.Signals): Promise<void> => {
    if (child) child.kill(sig);
    await exited;
  };

  try {
    await launch();
  } catch (err) {
    removeDir(dir);
    releasePorts([port]);
    throw err;
  }
  const server: RedisServer = {
    url: `redis://127.0.0.1:${port}`,
    port,
    dir,
    get pid() {
      return child?.pid;
    },
    get running() {
      return child !== null;
    },
    stop: () => signal('SIGTERM'),
    kill: () => signal('SIGKILL'),
    restart: async () => {
      if (destroyed) throw new Error('restart() after destroy()');
      await signal('SIGTERM');
      await launch();
    },
    destroy: async () => {
      if (destroyed) return;
      destroyed = true;
      await signal('SIGKILL');
      removeDir(dir);
      releasePorts([port]);
    },
    logs: (lines = 50) => tail(logFile, lines),
  };
  const t = options.t;
  if (t) {
    t.after(async () => {
      if (testFailed(t))
        console.error(`[harness] redis on port ${port}, last lines of redis.log:\n${server.logs()}`);
      await server.destroy();
    });
  }
  return server;
}
