import * as grpc from '@grpc/grpc-js';
import { Redis } from 'ioredis';
import type { Config } from '../common/config.js';
import { Keys } from '../common/keys.js';
import type { Logger } from '../common/logger.js';
import { startOpsServer, type OpsServer } from '../common/metrics.js';
import { PresenceService } from '../proto/gen/gmessenger/v1/presence_pb.js';
import { addService } from '../proto/grpc.js';
import type { Store } from '../store/index.js';
import { PresenceEngine } from './engine.js';

/** Default ports when GRPC_PORT / METRICS_PORT are 0. */
export const PRESENCE_GRPC_PORT = 7300;
export const PRESENCE_METRICS_PORT = 9400;

/** A running presence service: engine, gRPC server and ops endpoints. */
export interface PresenceServer {
  grpcPort: number;
  metricsPort: number;
  engine: PresenceEngine;
  /** Graceful stop: stops serving, then the engine, then closes connections (not the store). */
  close(): Promise<void>;
}

/** Starts the presence service on its configured ports (used by main.ts and by tests in-process). */
export async function startPresenceServer(
  config: Config,
  logger: Logger,
  store: Store,
): Promise<PresenceServer> {
  const keys = new Keys(config.redisPrefix);
  const redis = new Redis(config.redisUrl, { lazyConnect: true });
  redis.on('error', (err) => logger.warn({ err }, 'redis connection error'));
  await redis.connect();
  const engine = new PresenceEngine({ redis, keys, store, config, logger });
  await engine.start();

  const server = new grpc.Server();
  addService(server, PresenceService, {
    get: async (request) => {
      const presence = await engine.get(request.logins);
      return {
        users: [...presence].map(([login, p]) => ({
          login,
          online: p.online,
          lastSeenMs: p.lastSeen ?? 0,
        })),
      };
    },
  });
  const grpcPort = await new Promise<number>((resolve, reject) =>
    server.bindAsync(
      `${config.grpcHost}:${config.grpcPort || PRESENCE_GRPC_PORT}`,
      grpc.ServerCredentials.createInsecure(),
      (err, port) => (err ? reject(err) : resolve(port)),
    ),
  );
  let ops: OpsServer;
  try {
    ops = await startOpsServer(
      config.metricsHost,
      config.metricsPort || PRESENCE_METRICS_PORT,
      () => engine.isReady,
    );
  } catch (err) {
    server.forceShutdown();
    await engine.stop();
    redis.disconnect();
    throw err;
  }
  logger.info({ grpcPort, metricsPort: ops.port }, 'presence listening');

  return {
    grpcPort,
    metricsPort: ops.port,
    engine,
    async close() {
      await new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
      await engine.stop();
      await ops.close();
      await redis.quit().catch(() => redis.disconnect());
    },
  };
}
