/**
 * The relay's BullMQ queues (all under the prefix `{REDIS_PREFIX}bull`) and
 * the data their jobs carry. Jobs live in Redis until processed, so they
 * survive relay restarts and, with AOF, Redis restarts.
 */
import type { JobsOptions } from 'bullmq';

/** Offline notifications: one delayed job per recipient and chat per coalescing window. */
export const NOTIFY_QUEUE = 'notify';
/** Gateway inbox entries whose XADD failed, retried with backoff. */
export const REDELIVER_QUEUE = 'redeliver';
/** Jobs that exhausted their attempts; parked for inspection (nothing consumes them). */
export const DEAD_LETTER_QUEUE = 'dead-letter';

export interface NotifyJob {
  receiver: string;
  /** Internal chat id (`d:a:b` / `g:id`). */
  chatId: string;
  sender: string;
  messageId: number;
  preview: string;
  timeMs: number;
}

export interface RedeliverJob {
  /** Gateway node whose inbox gw:{node} the entry is for. */
  node: string;
  /** The entry as XADD field/value pairs (delivery/format.ts encodeInboxEntry). */
  fields: string[];
}

export interface DeadLetterJob {
  /** Queue the job failed in. */
  queue: string;
  jobId: string;
  data: unknown;
  attempts: number;
  error: string;
  failedAt: number;
}

/** Redelivery: quick retries, since a gateway's inbox outlives short Redis hiccups only briefly in value. */
export const REDELIVER_ATTEMPTS = 8;
export const REDELIVER_BACKOFF_MS = 100;

export const REDELIVER_JOB_OPTIONS: JobsOptions = {
  attempts: REDELIVER_ATTEMPTS,
  backoff: { type: 'exponential', delay: REDELIVER_BACKOFF_MS },
  removeOnComplete: { count: 1000 },
  // Failed jobs are copied to the dead-letter queue first; the failed set is only a short history.
  removeOnFail: { count: 1000 },
};
