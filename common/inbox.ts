/**
 * The format of entries in a gateway's inbox stream (`gw:{node}`), shared by
 * the writers (shards, presence) and the reader (gateway). One entry names the
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
