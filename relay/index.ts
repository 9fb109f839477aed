/**
 * The relay: offline notifications and redelivery on BullMQ, and the original
 * gmessenger relay contract over gRPC (RelayService.NewMessage / Unsent).
 *
 * - Shards call `createRelayClient(RELAY_ADDR).newMessage(...)` for receivers
 *   with no live connection.
 * - When a shard's XADD to a gateway inbox fails, it hands the entry to
 *   `enqueueRedelivery` (queue from `openRedeliveryQueue`); the relay retries
 *   the XADD with backoff while the gateway is alive. A redelivered entry may
 *   arrive after later ones: clients order and deduplicate by (chat, id).
 * - Webhook receivers verify requests with `verifyWebhook` (relay/README.md).
 */
import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Keys } from '../common/keys.js';
import { encodeInboxEntry, type InboxEntry } from '../delivery/index.js';
import { RelayService } from '../proto/gen/gmessenger/v1/relay_pb.js';
import { createClient } from '../proto/grpc.js';
import { REDELIVER_JOB_OPTIONS, REDELIVER_QUEUE, type RedeliverJob } from './jobs.js';

export {
  DEAD_LETTER_QUEUE,
  NOTIFY_QUEUE,
  REDELIVER_QUEUE,
  type DeadLetterJob,
  type NotifyJob,
  type RedeliverJob,
} from './jobs.js';
export {
  DELIVERY_HEADER,
  SIGNATURE_HEADER,
  TIMESTAMP_HEADER,
  signWebhook,
  verifyWebhook,
  type NotificationBody,
} from './webhook.js';
export { unsentFor, type UnsentMessage } from './unsent.js';

/** gRPC client of the relay (RelayService: newMessage, unsent). */
export function createRelayClient(address: string) {
  return createClient(RelayService, address);
}

export type RelayClient = ReturnType<typeof createRelayClient>;

export type RedeliveryQueue = Queue<RedeliverJob>;

/**
 * The producer side of the redeliver queue. `connection` is the caller's
 * ioredis connection; the queue does not close it. Close the queue on shutdown.
 * Give it a connection of its own, not one that carries hot-path commands:
 * BullMQ defines its ~60 scripts on the connection, and ioredis copies every
 * defined script onto each pipeline it builds (auto-pipelining builds one per
 * event-loop turn), which made each pipeline ten times as expensive.
 */
export function openRedeliveryQueue(connection: Redis, keys: Keys): RedeliveryQueue {
  return new Queue<RedeliverJob>(REDELIVER_QUEUE, { connection, prefix: keys.bullPrefix() });
}

/** Hands an inbox entry whose XADD to gw:{node} failed to the relay, which retries it with backoff. */
export async function enqueueRedelivery(
  queue: RedeliveryQueue,
  node: string,
  entry: InboxEntry,
): Promise<void> {
  await queue.add('redeliver', { node, fields: encodeInboxEntry(entry) }, REDELIVER_JOB_OPTIONS);
}
