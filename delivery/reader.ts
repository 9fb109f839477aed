/**
 * The reading side of Redis Streams delivery: reads a gateway's inbox stream
 * (`gw:{node}`) with blocking XREAD on a dedicated connection and hands each
 * entry on (to the hub). It starts after the
 * stream's current last entry (older entries were for sockets that no longer
 * exist) and keeps its position across Redis reconnects.
 */
import type { Redis } from 'ioredis';
import type { Keys } from '../common/keys.js';
import type { Logger } from '../common/logger.js';
import { inboxEntries, inboxLagSeconds, streamLength } from '../common/metrics.js';
import { sleep } from '../common/time.js';
import type { Subscription } from './delivery.js';
import { decodeInboxEntries, type InboxEntry } from './format.js';

export class InboxReader implements Subscription {
  private running = false;
  private lastId = '$';
  private loop: Promise<void> | null = null;

  constructor(
    /** A connection of its own (blocking reads); `stop` disconnects it. */
    private readonly redis: Redis,
    private readonly keys: Keys,
    private readonly node: string,
    private readonly onEntry: (entry: InboxEntry) => void,
    private readonly logger: Logger,
    /** Wraps the handling of one read's entries (the hub sends each socket's frames of a read together). */
    private readonly batch: (handle: () => void) => void = (handle) => handle(),
  ) {}

  async start(): Promise<void> {
    const key = this.keys.inbox(this.node);
    const last = await this.redis.xrevrange(key, '+', '-', 'COUNT', 1);
    this.lastId = last[0]?.[0] ?? '0-0';
    this.running = true;
    this.loop = this.run(key);
  }

  private async run(key: string): Promise<void> {
    let lengthCheckedAt = 0;
    while (this.running) {
      try {
        const result = (await this.redis.xread('COUNT', 1000, 'BLOCK', 1000, 'STREAMS', key, this.lastId)) as
          [string, [string, string[]][]][] | null;
        if (!result) continue;
        const entries = result[0]?.[1] ?? [];
        this.batch(() => {
          for (const [id, fields] of entries) {
            this.lastId = id;
            // A shard's fan-out writes one batch entry per flush holding several events.
            for (const entry of decodeInboxEntries(fields)) {
              try {
                this.onEntry(entry);
              } catch (err) {
                this.logger.error({ err }, 'inbox entry handling failed');
              }
            }
          }
        });
        if (entries.length > 0) {
          inboxEntries.inc(entries.length);
          const newest = Number(this.lastId.split('-')[0]);
          inboxLagSeconds.set(Math.max(0, Date.now() - newest) / 1000);
        }
        const now = Date.now();
        if (now - lengthCheckedAt > 5000) {
          lengthCheckedAt = now;
          streamLength.set({ stream: 'inbox' }, await this.redis.xlen(key));
        }
      } catch (err) {
        if (!this.running) break;
        this.logger.warn({ err }, 'inbox read failed; retrying');
        await sleep(250);
      }
    }
  }

  async stop(): Promise<void> {
    this.running = false;
    this.redis.disconnect();
    await this.loop?.catch(() => undefined);
  }
}
