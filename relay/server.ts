import * as grpc from '@grpc/grpc-js';
import { Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import type { Config } from '../common/config.js';
import { invalidField } from '../common/errors.js';
import { parseChatId } from '../common/ids.js';
import { Keys } from '../common/keys.js';
import type { Logger } from '../common/logger.js';
import { relayQueueDepth, startOpsServer, type OpsServer } from '../common/metrics.js';
import { RelayService } from '../proto/gen/gmessenger/v1/relay_pb.js';
import { addService } from '../proto/grpc.js';
import { toChatMessage } from '../proto/messages.js';
import type { Store } from '../store/index.js';
import {
  DEAD_LETTER_QUEUE,
  NOTIFY_QUEUE,
  REDELIVER_QUEUE,
  type DeadLetterJob,
  type NotifyJob,
  type RedeliverJob,
} from './jobs.js';
import { UNSENT_DEFAULT_PER_CHAT, UNSENT_MAX_PER_CHAT, unsentFor } from './unsent.js';
import { previewOf } from './webhook.js';
import { processNotify, processRedeliver, scheduleNotification, type ProcessorDeps } from './workers.js';

/** Default ports when GRPC_PORT / METRICS_PORT are 0. */
export const RELAY_GRPC_PORT = 7200;
export const RELAY_METRICS_PORT = 9300;

const NOTIFY_CONCURRENCY = 16;
const REDELIVER_CONCURRENCY = 8;
const DEPTH_EVERY_MS = 2000;
const DEPTH_STATES = ['waiting', 'active', 'delayed', 'failed'] as const;

/** A running relay: queues, workers, gRPC server and ops endpoints. */
export interface RelayServer {
  grpcPort: number;
  metricsPort: number;
  /** Graceful stop: stops serving, lets running jobs finish, closes connections (not the store). */
  close(): Promise<void>;
}

/** Starts the relay on its configured ports (used by main.ts and by tests in-process). */
export async function startRelayServer(config: Config, logger: Logger, store: Store): Promise<RelayServer> {
  const keys = new Keys(config.redisPrefix);
  // BullMQ workers block on Redis; they need commands that wait for a reconnect instead of failing.
  const connection = new Redis(config.redisUrl, { maxRetriesPerRequest: null, lazyConnect: true });
  connection.on('error', (err) => logger.warn({ err }, 'redis connection error'));
  await connection.connect();
  const prefix = keys.bullPrefix();
  const notifyQueue = new Queue<NotifyJob>(NOTIFY_QUEUE, { connection, prefix });
  const redeliverQueue = new Queue<RedeliverJob>(REDELIVER_QUEUE, { connection, prefix });
  const deadLetters = new Queue<DeadLetterJob>(DEAD_LETTER_QUEUE, { connection, prefix });
  const queues = [notifyQueue, redeliverQueue, deadLetters] as Queue[];
  for (const queue of queues)
    queue.on('error', (err) => logger.warn({ err, queue: queue.name }, 'relay queue error'));
  const deps: ProcessorDeps = { redis: connection, keys, store, config, logger, notifyQueue, deadLetters };

  const workers = [
    new Worker<NotifyJob>(NOTIFY_QUEUE, (job) => processNotify(deps, job), {
      connection,
      prefix,
      concurrency: NOTIFY_CONCURRENCY,
    }),
    new Worker<RedeliverJob>(REDELIVER_QUEUE, (job) => processRedeliver(deps, job), {
      connection,
      prefix,
      concurrency: REDELIVER_CONCURRENCY,
    }),
  ] as Worker[];
  for (const worker of workers)
    worker.on('error', (err) => logger.warn({ err, queue: worker.name }, 'relay worker error'));

  const server = new grpc.Server();
  addService(server, RelayService, {
    newMessage: async (request) => {
      const message = request.message;
      if (!request.receiver) throw invalidField('receiver', 'receiver is required');
      if (!message || !parseChatId(message.chatId))
        throw invalidField('message', 'a message with a valid chat id is required');
      if (!(message.id > 0)) throw invalidField('message', 'message id must be positive');
      if (message.sender === request.receiver) return {};
      await scheduleNotification(notifyQueue, config, {
        receiver: request.receiver,
        chatId: message.chatId,
        sender: message.sender,
        messageId: message.id,
        preview: previewOf(message.text),
        timeMs: message.timeMs,
      });
      return {};
    },
    unsent: async (request) => {
      if (!request.receiver) throw invalidField('receiver', 'receiver is required');
      const limit = Math.min(request.limitPerChat || UNSENT_DEFAULT_PER_CHAT, UNSENT_MAX_PER_CHAT);
      const messages = await unsentFor(store, request.receiver, limit);
      return {
        messages: messages.map((m) => toChatMessage(m)),
      };
    },
  });
  let grpcPort: number;
  let ops: OpsServer;
  const depthTimer = setInterval(() => void updateDepth(queues), DEPTH_EVERY_MS);
  try {
    grpcPort = await new Promise<number>((resolve, reject) =>
      server.bindAsync(
        `${config.grpcHost}:${config.grpcPort || RELAY_GRPC_PORT}`,
        grpc.ServerCredentials.createInsecure(),
        (err, port) => (err ? reject(err) : resolve(port)),
      ),
    );
    ops = await startOpsServer(
      config.metricsHost,
      config.metricsPort || RELAY_METRICS_PORT,
      () => connection.status === 'ready' && workers.every((w) => w.isRunning()),
    );
  } catch (err) {
    clearInterval(depthTimer);
    server.forceShutdown();
    await Promise.all(workers.map((w) => w.close(true)));
    await Promise.all(queues.map((q) => q.close()));
    connection.disconnect();
    throw err;
  }
  await updateDepth(queues);
  logger.info(
    { grpcPort, metricsPort: ops.port, webhook: Boolean(config.notifyWebhookUrl) },
    'relay listening',
  );

  return {
    grpcPort,
    metricsPort: ops.port,
    async close() {
      clearInterval(depthTimer);
      await new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
      await Promise.all(workers.map((w) => w.close()));
      await Promise.all(queues.map((q) => q.close()));
      await ops.close();
      await connection.quit().catch(() => connection.disconnect());
    },
  };
}

async function updateDepth(queues: Queue[]): Promise<void> {
  try {
    for (const queue of queues) {
      const counts = await queue.getJobCounts(...DEPTH_STATES);
      for (const state of DEPTH_STATES) relayQueueDepth.set({ queue: queue.name, state }, counts[state] ?? 0);
    }
  } catch {
    // Redis unavailable: keep the last values; the next round retries.
  }
}
