/**
 * The delivery port: how chat events (from shard actors) and presence changes
 * (from the presence engine) reach the gateways where their users have
 * sockets, and how a gateway receives them. Adapters: `delivery.redis.ts`
 * (Redis Streams, one inbox stream `gw:{node}` per gateway) and
 * `delivery.memory.ts` (one process, for unit tests).
 */
import type { InboxEntry } from './format.js';

/** One event for the gateways of its users (`users`), or of every gateway (`'*'`). */
export interface DeliveryEvent extends InboxEntry {
  /** Called with the users that have no live connection anywhere (new_message only). */
  onOffline?: (logins: string[]) => void;
  /**
   * A user whose entry for one gateway is not needed: the sender's, on the gateway of the sending socket
   * when it is the sender's only socket there (it has the message from its acknowledgement).
   */
  skip?: { user: string; node: string };
}

/** A gateway's reading of its inbox, from `Delivery.subscribe`. */
export interface Subscription {
  /** Starts after the newest entry already there (older ones were for sockets that no longer exist). */
  start(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Delivery of events to gateways.
 *
 * Ordering: the events one `Delivery` publishes reach each gateway in the order published (so a chat's
 * messages and status changes arrive in id order from its single writer). Delivery is at least once: a
 * write that fails is retried in order, and an entry a gateway's inbox refused goes to redelivery, which
 * may bring it after later ones — sockets drop repeats and reorder by id. A user with no live gateway gets
 * nothing (they catch up from history); `onOffline` names them.
 */
export interface Delivery {
  /** Queues an event; the events of one event-loop turn are routed and written together. Never throws. */
  publish(event: DeliveryEvent): void;
  /** Resolves once everything published so far is written (retries included) or handed to redelivery. */
  drain(): Promise<void>;
  /**
   * Reads gateway `node`'s inbox and hands each event to `onEntry`, in order. `batch` wraps the handling of
   * the events of one read (the hub sends each socket its frames of a read in one write).
   */
  subscribe(
    node: string,
    onEntry: (entry: InboxEntry) => void,
    batch?: (handle: () => void) => void,
  ): Subscription;
}
