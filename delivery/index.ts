/**
 * Delivery: the path from a shard actor (or the presence engine) to the
 * gateways where the users of an event have sockets — route lookup, one
 * write per gateway, retries and redelivery on the publishing side, the inbox
 * read on the gateway's side. Other components use it only through this file.
 *
 * - Shards and presence `publish` events on a `Delivery` (`RedisDelivery`).
 * - Gateways `subscribe` to their own inbox.
 * - The relay re-writes entries whose XADD failed (`encodeInboxEntry`).
 * - Unit tests use `MemoryDelivery`.
 */
export type { Delivery, DeliveryEvent, Subscription } from './delivery.js';
export { RedisDelivery, type RedisDeliveryOptions } from './delivery.redis.js';
export { MemoryDelivery } from './delivery.memory.js';
export {
  decodeInboxEntries,
  decodeInboxEntry,
  encodeInboxBatch,
  encodeInboxEntry,
  type InboxEntry,
  type InboxEventType,
} from './format.js';
export { routesOf } from './routes.js';
export type { Redeliver, RouteResolver } from './writer.js';
