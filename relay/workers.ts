/**
 * The relay's job processors. Both return a short result (kept in the
 * completed job) or throw to let BullMQ retry with backoff; on the last
 * attempt, or for a failure that retrying cannot fix, the job is first copied
 * to the dead-letter queue.
 */
import { UnrecoverableError, type Job, type Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Config } from '../common/config.js';
import { dialogPeer, parseChatId } from '../common/ids.js';
import type { Keys } from '../common/keys.js';
import type { Logger } from '../common/logger.js';
import { notificationsSent, relayDeadLetters, relayRetries } from '../common/metrics.js';
import { readPresence } from '../presence/index.js';
import type { Store } from '../store/index.js';
import type { DeadLetterJob, NotifyJob, RedeliverJob } from './jobs.js';
import { postWebhook, type NotificationBody } from './webhook.js';

export interface ProcessorDeps {
  redis: Redis;
  keys: Keys;
  store: Store;
  config: Config;
  logger: Logger;
  notifyQueue: Queue<NotifyJob>;
  deadLetters: Queue<DeadLetterJob>;
}

/** The coalescing key of a notification: one per recipient and chat per window. */
export function coalesceId(receiver: string, chatId: string): string {
  return `${receiver}|${chatId}`;
}

/** Parks a job in the dead-letter queue (idempotent: the id is derived from the job's). */
async function deadLetter(deps: ProcessorDeps, queue: string, job: Job, error: string): Promise<void> {
  await deps.deadLetters.add(
    queue,
    {
      queue,
      jobId: String(job.id),
      data: job.data,
      attempts: job.attemptsMade + 1,
      error,
      failedAt: Date.now(),
    },
    { jobId: `${queue}-${job.id}`, removeOnComplete: false, removeOnFail: false },
  );
  relayDeadLetters.inc({ queue });
  deps.logger.warn({ queue, job: job.id, error }, 'job moved to the dead-letter queue');
}

async function fail(
  deps: ProcessorDeps,
  queue: string,
  job: Job,
  error: string,
  retryable: boolean,
): Promise<never> {
  const last = job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
  if (!retryable || last) {
    await deadLetter(deps, queue, job, error);
    throw new UnrecoverableError(error);
  }
  relayRetries.inc({ queue });
  throw new Error(error);
}

/**
 * A due notification: skipped when the recipient is online by now, or their
 * delivered mark reached the message (live delivery or catch-up). Skipping
 * reopens the coalescing window, so the next missed message notifies again.
 * Without NOTIFY_WEBHOOK_URL the notification is only counted.
 */
export async function processNotify(deps: ProcessorDeps, job: Job<NotifyJob>): Promise<string> {
  let outcome: { result: string } | { error: string; retryable: boolean };
  try {
    outcome = await notify(deps, job);
  } catch (err) {
    outcome = { error: `notification failed: ${(err as Error).message}`, retryable: true };
  }
  if ('result' in outcome) return outcome.result;
  return fail(deps, job.queueName, job, outcome.error, outcome.retryable);
}

async function notify(
  deps: ProcessorDeps,
  job: Job<NotifyJob>,
): Promise<{ result: string } | { error: string; retryable: boolean }> {
  const { receiver, chatId, messageId } = job.data;
  const [presence, marks] = await Promise.all([
    readPresence(deps.redis, deps.keys, [receiver]),
    deps.store.messages.marksOfUser(receiver, [chatId]),
  ]);
  let skipped: string | null = null;
  if (presence.get(receiver)?.online) skipped = 'skipped_online';
  else if ((marks.get(chatId)?.deliveredId ?? 0) >= messageId) skipped = 'skipped_delivered';
  if (skipped) {
    notificationsSent.inc({ result: skipped });
    if (deps.config.notifyCoalesceMs > 0)
      await deps.notifyQueue.removeDeduplicationKey(coalesceId(receiver, chatId));
    return { result: skipped };
  }
  if (!deps.config.notifyWebhookUrl) {
    notificationsSent.inc({ result: 'unconfigured' });
    return { result: 'unconfigured' };
  }
  const parsed = parseChatId(chatId);
  const body: NotificationBody = {
    recipient: receiver,
    chat:
      parsed?.kind === 'group'
        ? { type: 'group', id: parsed.groupId! }
        : { type: 'dialog', id: dialogPeer(chatId, receiver) },
    sender: job.data.sender,
    message_id: messageId,
    preview: job.data.preview,
  };
  const sent = await postWebhook(
    deps.config.notifyWebhookUrl,
    deps.config.notifyWebhookSecret,
    JSON.stringify(body),
    `notify-${job.id}`,
  );
  if (sent.ok) {
    notificationsSent.inc({ result: 'sent' });
    return { result: 'sent' };
  }
  notificationsSent.inc({ result: 'failed' });
  deps.logger.info({ job: job.id, status: sent.status, attempt: job.attemptsMade + 1 }, 'webhook failed');
  return {
    error: sent.status ? `webhook answered ${sent.status}` : 'webhook unreachable',
    retryable: sent.retryable,
  };
}

/**
 * Retries an inbox XADD for a gateway. When the gateway is gone (its lease
 * expired) the entry is dropped: its users reconnect elsewhere and catch up
 * from history.
 */
export async function processRedeliver(deps: ProcessorDeps, job: Job<RedeliverJob>): Promise<string> {
  const { node, fields } = job.data;
  try {
    const expiry = await deps.redis.zscore(deps.keys.gateways(), node);
    if (expiry === null || Number(expiry) <= Date.now()) return 'gateway_gone';
    await deps.redis.xadd(deps.keys.inbox(node), 'MAXLEN', '~', deps.config.inboxMaxLen, '*', ...fields);
    return 'delivered';
  } catch (err) {
    return fail(deps, job.queueName, job, `inbox write failed: ${(err as Error).message}`, true);
  }
}

/**
 * Schedules the notification of `receiver` about a message they did not get
 * live: delayed by NOTIFY_DELAY_MS, and coalesced so that at most one job per
 * recipient and chat is created per NOTIFY_COALESCE_MS (BullMQ deduplication
 * with a TTL, kept in Redis, so the window survives restarts): later
 * messages in the window add nothing.
 */
export async function scheduleNotification(
  queue: Queue<NotifyJob>,
  config: Config,
  data: NotifyJob,
): Promise<void> {
  const id = coalesceId(data.receiver, data.chatId);
  await queue.add('notify', data, {
    delay: config.notifyDelayMs,
    ...(config.notifyCoalesceMs > 0 ? { deduplication: { id, ttl: config.notifyCoalesceMs } } : {}),
    attempts: config.notifyMaxAttempts,
    backoff: { type: 'exponential', delay: config.notifyBackoffMs },
    removeOnComplete: { count: 1000 },
    removeOnFail: { count: 1000 },
  });
}
