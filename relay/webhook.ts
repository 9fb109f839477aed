/**
 * The notification webhook's wire format and signature (see relay/README.md).
 *
 * Each request is a POST of a JSON body with three headers:
 * - `X-Gmessenger-Timestamp`: ms since the epoch when the request was signed;
 * - `X-Gmessenger-Signature`: `sha256=<hex HMAC-SHA256 of "<timestamp>.<raw body>">`
 *   keyed with NOTIFY_WEBHOOK_SECRET (the timestamp is signed so a captured
 *   request cannot be replayed later; receivers reject old timestamps);
 * - `X-Gmessenger-Delivery`: the job id, the same on every retry of one
 *   notification (receivers deduplicate by it).
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

export const SIGNATURE_HEADER = 'x-gmessenger-signature';
export const TIMESTAMP_HEADER = 'x-gmessenger-timestamp';
export const DELIVERY_HEADER = 'x-gmessenger-delivery';

/** How long a webhook request may take before it counts as failed. */
export const WEBHOOK_TIMEOUT_MS = 10_000;

/** The JSON body of a notification. */
export interface NotificationBody {
  recipient: string;
  /** The chat as the recipient names it (API.md): the other participant for dialogs, the group id for groups. */
  chat: { type: 'dialog' | 'group'; id: string };
  sender: string;
  message_id: number;
  /** The start of the message text (at most PREVIEW_CHARS characters, "…" when cut). */
  preview: string;
}

export const PREVIEW_CHARS = 100;

/** The first PREVIEW_CHARS code points of `text`, with "…" when it was longer. */
export function previewOf(text: string): string {
  const chars = Array.from(text);
  return chars.length <= PREVIEW_CHARS ? text : chars.slice(0, PREVIEW_CHARS).join('') + '…';
}

/** `sha256=<hex>` of HMAC-SHA256(secret, "<timestamp>.<body>"). */
export function signWebhook(secret: string, timestamp: string, body: string): string {
  return 'sha256=' + createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex');
}

/**
 * Checks a received request (for receivers and tests): the signature matches
 * the raw body and timestamp, and the timestamp is within `toleranceMs` of now.
 */
export function verifyWebhook(
  secret: string,
  headers: { timestamp: string | undefined; signature: string | undefined },
  rawBody: string,
  toleranceMs = 5 * 60_000,
  now = Date.now(),
): boolean {
  const { timestamp, signature } = headers;
  if (!timestamp || !signature || !/^\d+$/.test(timestamp)) return false;
  if (Math.abs(now - Number(timestamp)) > toleranceMs) return false;
  const expected = Buffer.from(signWebhook(secret, timestamp, rawBody));
  const given = Buffer.from(signature);
  return expected.length === given.length && timingSafeEqual(expected, given);
}

/** Outcome of one webhook request. */
export interface WebhookResult {
  ok: boolean;
  /** HTTP status, or 0 when no response came (connection refused, timeout). */
  status: number;
  /** Worth retrying: network failures, timeouts, 408, 425, 429 and 5xx. */
  retryable: boolean;
}

/** POSTs one signed notification. Never throws; the result says what happened. */
export async function postWebhook(
  url: string,
  secret: string,
  body: string,
  deliveryId: string,
  now = Date.now(),
): Promise<WebhookResult> {
  const timestamp = String(now);
  try {
    const res = await fetch(url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json; charset=utf-8',
        [TIMESTAMP_HEADER]: timestamp,
        [SIGNATURE_HEADER]: signWebhook(secret, timestamp, body),
        [DELIVERY_HEADER]: deliveryId,
        'user-agent': 'gmessenger-relay',
      },
      body,
      redirect: 'manual',
      signal: AbortSignal.timeout(WEBHOOK_TIMEOUT_MS),
    });
    await res.arrayBuffer().catch(() => undefined);
    const status = res.status;
    const ok = status >= 200 && status < 300;
    return {
      ok,
      status,
      retryable: !ok && (status >= 500 || status === 408 || status === 425 || status === 429),
    };
  } catch {
    return { ok: false, status: 0, retryable: true };
  }
}
