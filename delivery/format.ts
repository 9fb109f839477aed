/**
 * The format of entries in a gateway's inbox stream (`gw:{node}`), shared by
 * the writer (writer.ts, for shards and presence), the reader (reader.ts, for
 * the gateway) and the relay's redelivery. One entry names the
 * users on that gateway it is for, so a group message costs one entry per
 * gateway, not one per member. The gateway renders the final event per socket
 * (dialog chats are named by the *other* participant).
 *
 * Stream fields (flat, short names keep XADD cheap):
 * - `t`: event type (`new_message`, `message_status`, `user_status`, `typing`)
 * - `c`: chat id (`d:a:b` / `g:id`), empty for user_status
 * - `u`: comma-separated target logins, or `*` for every local socket that follows the chat
 *        (public groups, whose audience is everyone)
 * - `x`: connection id to skip (the sender's own socket already got the ack), may be empty
 * - `p`: the event payload as JSON, without `chat`
 * - `s`: when the message was stored (ms since epoch), for delivery latency; may be empty
 *
 * A batch entry carries several events for one gateway in queue order (the shard's fan-out writes one
 * per gateway per flush, not one per event), as the single field `b`: a JSON array of
 * `[type, chatId, users ("*" or comma-separated), excludeConn, payload (inline JSON), storedAtMs]`.
 */
export type InboxEventType = 'new_message' | 'message_status' | 'user_status' | 'typing';

export interface InboxEntry {
  type: InboxEventType;
  chatId: string;
  /** Target logins, or '*' for all followers of the chat on the gateway. */
  users: string[] | '*';
  excludeConn: string;
  payload: string;
  storedAtMs: number;
  /** The payload already parsed (entries decoded from a batch). */
  data?: Record<string, unknown>;
}

/** Flattens events for one gateway into the XADD field/value pair of a batch entry (payloads inlined). */
export function encodeInboxBatch(entries: readonly InboxEntry[]): string[] {
  let json = '[';
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i]!;
    if (i > 0) json += ',';
    json += `[${JSON.stringify(e.type)},${JSON.stringify(e.chatId)},${JSON.stringify(
      e.users === '*' ? '*' : e.users.join(','),
    )},${JSON.stringify(e.excludeConn)},${e.payload},${e.storedAtMs || 0}]`;
  }
  return ['b', json + ']'];
}

type BatchItem = [InboxEventType, string, string, string, Record<string, unknown>, number];

/** Parses a stream entry, single or batch, into its events (none when malformed). */
export function decodeInboxEntries(fields: string[]): InboxEntry[] {
  if (fields.length !== 2 || fields[0] !== 'b') {
    const single = decodeInboxEntry(fields);
    return single ? [single] : [];
  }
  let items: BatchItem[];
  try {
    items = JSON.parse(fields[1]!) as BatchItem[];
  } catch {
    return [];
  }
  if (!Array.isArray(items)) return [];
  const out: InboxEntry[] = [];
  for (const item of items) {
    if (!Array.isArray(item) || typeof item[0] !== 'string' || typeof item[4] !== 'object' || !item[4])
      continue;
    const u = String(item[2] ?? '');
    out.push({
      type: item[0],
      chatId: String(item[1] ?? ''),
      users: u === '*' ? '*' : u ? u.split(',') : [],
      excludeConn: String(item[3] ?? ''),
      payload: '',
      data: item[4],
      storedAtMs: Number(item[5] || 0),
    });
  }
  return out;
}

/** Flattens an entry into XADD field/value pairs. */
export function encodeInboxEntry(e: InboxEntry): string[] {
  return [
    't',
    e.type,
    'c',
    e.chatId,
    'u',
    e.users === '*' ? '*' : e.users.join(','),
    'x',
    e.excludeConn,
    'p',
    e.payload,
    's',
    e.storedAtMs ? String(e.storedAtMs) : '',
  ];
}

/** Parses XREAD field/value pairs; returns null for entries missing required fields. */
export function decodeInboxEntry(fields: string[]): InboxEntry | null {
  const m = new Map<string, string>();
  for (let i = 0; i + 1 < fields.length; i += 2) m.set(fields[i]!, fields[i + 1]!);
  const type = m.get('t') as InboxEventType | undefined;
  const payload = m.get('p');
  if (!type || payload === undefined) return null;
  const u = m.get('u') ?? '';
  return {
    type,
    chatId: m.get('c') ?? '',
    users: u === '*' ? '*' : u ? u.split(',') : [],
    excludeConn: m.get('x') ?? '',
    payload,
    storedAtMs: Number(m.get('s') || 0),
  };
}
