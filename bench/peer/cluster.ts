/**
 * Starts the Socket.IO peer baseline: a redis-server on a free port (no
 * persistence: the peer does not persist) and `nodes` Socket.IO server
 * processes sharing it through the Redis Streams adapter.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { releasePorts, reservePort } from '../../launcher/ports.js';
import { startRedis, type RedisServer } from '../../test/harness/redis.js';

export interface PeerCluster {
  /** http://127.0.0.1:<port> of each node. */
  readonly urls: string[];
  /** Pids of the node processes (for RSS and profiles). */
  readonly pids: number[];
  readonly redis: RedisServer;
  stop(): Promise<void>;
}

/** The server entry beside this file: .ts under tsx, .js when compiled. */
function serverEntry(): string {
  const self = fileURLToPath(import.meta.url);
  return self.replace(/cluster\.(ts|js)$/, (_m, ext: string) => `server.${ext}`);
}

function waitListening(child: ChildProcess, timeoutMs: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('peer node did not start in time')), timeoutMs);
    child.once('message', (m: { port?: number }) => {
      clearTimeout(timer);
      if (typeof m.port === 'number') resolve(m.port);
      else reject(new Error('peer node sent no port'));
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`peer node exited with ${code}`));
    });
  });
}

export async function startPeerCluster(nodes = 2, env: Record<string, string> = {}): Promise<PeerCluster> {
  const redis = await startRedis({ appendonly: false });
  const children: ChildProcess[] = [];
  const ports: number[] = [];
  const stop = async (): Promise<void> => {
    await Promise.all(
      children.map(
        (c) =>
          new Promise<void>((resolve) => {
            if (c.exitCode !== null || c.signalCode !== null) return resolve();
            const timer = setTimeout(() => c.kill('SIGKILL'), 5000);
            c.once('exit', () => {
              clearTimeout(timer);
              resolve();
            });
            c.kill('SIGTERM');
          }),
      ),
    );
    releasePorts(ports);
    await redis.destroy();
  };
  try {
    for (let i = 0; i < nodes; i++) {
      const port = await reservePort();
      ports.push(port);
      const child = fork(serverEntry(), [], {
        env: { ...process.env, ...env, PORT: String(port), REDIS_URL: redis.url },
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      });
      children.push(child);
      await waitListening(child, 30_000);
    }
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    urls: ports.map((p) => `http://127.0.0.1:${p}`),
    pids: children.map((c) => c.pid!),
    redis,
    stop,
  };
}
