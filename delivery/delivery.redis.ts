/**
 * Delivery on Redis Streams: every gateway reads its own inbox stream
 * `gw:{node}` (reader.ts); publishers route each flush of events with one
 * lookup of the routing table and write one batch entry per gateway
 * (writer.ts). Keys (common/keys.ts): `gw:{node}` (inbox stream), `gateways`
 * (zset node → lease expiry), `route:{login}` (hash node → sockets there).
 */
import type { Delivery, DeliveryEvent, Subscription } from './delivery.js';
import type { InboxEntry } from './format.js';
import { InboxReader } from './reader.js';
import { DeliveryWriter, type DeliveryWriterOptions } from './writer.js';

export type RedisDeliveryOptions = DeliveryWriterOptions;

export class RedisDelivery implements Delivery {
  private readonly writer: DeliveryWriter;

  constructor(private readonly options: RedisDeliveryOptions) {
    this.writer = new DeliveryWriter(options);
  }

  publish(event: DeliveryEvent): void {
    this.writer.publish(event);
  }

  drain(): Promise<void> {
    return this.writer.drain();
  }

  /** Reads on a connection of its own (a duplicate of `redis` that waits through reconnects). */
  subscribe(
    node: string,
    onEntry: (entry: InboxEntry) => void,
    batch?: (handle: () => void) => void,
  ): Subscription {
    const { redis, keys, logger } = this.options;
    const reader = redis.duplicate({ maxRetriesPerRequest: null, enableAutoPipelining: false });
    reader.on('error', (err) => logger.warn({ err }, 'redis error (inbox)'));
    return new InboxReader(reader, keys, node, onEntry, logger, batch);
  }
}
