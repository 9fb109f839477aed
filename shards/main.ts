/**
 * Shard process entry: registers in the live shard set, serves
 * ShardService.Exchange over gRPC, and runs the chat actors it owns.
 */
import * as grpc from '@grpc/grpc-js';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { loadConfig } from '../common/config.js';
import { Keys } from '../common/keys.js';
import { createLogger } from '../common/logger.js';
import { collectDefaults, startOpsServer } from '../common/metrics.js';
import { addService } from '../proto/grpc.js';
import { ShardService } from '../proto/gen/gmessenger/v1/shard_pb.js';
import { RedisDelivery } from '../delivery/index.js';
import { createRelayClient, enqueueRedelivery, openRedeliveryQueue } from '../relay/index.js';
import { openStore } from '../store/index.js';
import { ShardDirectory, ShardRegistration } from './directory.js';
import { LeaseManager } from './leases.js';
import { toChatMessage } from '../proto/messages.js';
import { Shard } from './shard.js';
import { GroupWriter } from './writer.js';

const config = loadConfig('shard');
const logger = createLogger('shard', config.nodeId, config.logLevel);
collectDefaults('shard');

async function main(): Promise<void> {
  const keys = new Keys(config.redisPrefix);
  const redis = new Redis(config.redisUrl, { maxRetriesPerRequest: 2, enableAutoPipelining: true });
  redis.on('error', (err) => logger.warn({ err }, 'redis error'));
  const store = await openStore(config);

  const grpcPort = config.grpcPort || 7100;
  const server = new grpc.Server({ 'grpc.max_receive_message_length': 16 * 1024 * 1024 });
  const boundPort = await new Promise<number>((resolve, reject) =>
    server.bindAsync(
      `${config.grpcHost}:${grpcPort}`,
      grpc.ServerCredentials.createInsecure(),
      (err, port) => (err ? reject(err) : resolve(port)),
    ),
  );
  const address = config.grpcAdvertise || `${config.grpcHost}:${boundPort}`;

  const directory = new ShardDirectory(redis, keys);
  const registration = new ShardRegistration(redis, keys, { id: config.nodeId, address }, config.leaseTtlMs);
  const leases = new LeaseManager(
    redis,
    keys,
    `${config.nodeId}:${randomBytes(6).toString('hex')}`,
    config.leaseTtlMs,
  );
  const relay = createRelayClient(config.relayAddr);
  // A connection of its own: BullMQ's scripts on `redis` would slow every pipeline the fan-out builds.
  const queueRedis = redis.duplicate({ enableAutoPipelining: false });
  queueRedis.on('error', (err) => logger.warn({ err }, 'redis error (redelivery queue)'));
  const redeliveryQueue = openRedeliveryQueue(queueRedis, keys);
  const delivery = new RedisDelivery({
    redis,
    keys,
    inboxMaxLen: config.inboxMaxLen,
    logger: logger.child({ component: 'fanout' }),
    redeliver: (node, entry) => enqueueRedelivery(redeliveryQueue, node, entry),
  });
  const writer = new GroupWriter(store);
  const shard = new Shard(
    config.nodeId,
    directory,
    leases,
    {
      store,
      writer,
      delivery,
      notifyOffline(receivers, message) {
        const chatMessage = toChatMessage({ ...message, status: 'sent' });
        for (const receiver of receivers) {
          relay.newMessage({ receiver, message: chatMessage }).catch((err: unknown) => {
            logger.warn(
              { err, receiver, chat: message.chatId },
              'relay unavailable; receiver will catch up on reconnect',
            );
          });
        }
      },
    },
    config.actorIdleMs,
    logger,
  );

  addService(server, ShardService, { exchange: (call) => shard.exchange(call) });
  await registration.start();
  await directory.start();
  leases.start();
  shard.start();

  let ready = true;
  const ops = await startOpsServer(config.metricsHost, config.metricsPort || 9200, () => ready);
  logger.info({ grpc: address, metricsPort: ops.port }, 'shard ready');

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    ready = false;
    logger.info({ signal }, 'shard draining');
    await registration.stop().catch(() => undefined);
    await shard.drain();
    await leases.stop();
    directory.stop();
    await new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
    relay.close();
    await redeliveryQueue.close().catch(() => undefined);
    queueRedis.disconnect();
    await store.close();
    await ops.close();
    redis.disconnect();
    logger.info('shard stopped');
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
}

main().catch((err: unknown) => {
  logger.fatal({ err }, 'shard failed to start');
  process.exit(1);
});
