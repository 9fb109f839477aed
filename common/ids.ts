/**
 * Identifiers: chat ids, group ids, session tokens. Dialog chat ids sort the
 * two logins so both participants name the same chat: `d:<a>:<b>` with a < b.
 * Group chat ids are `g:<groupId>`. Logins never contain ':'.
 */
import { createHash, randomBytes } from 'node:crypto';

export type ChatKind = 'dialog' | 'group';

export interface ParsedChat {
  kind: ChatKind;
  /** Dialog: both logins sorted. */
  members?: [string, string];
  /** Group: the group id. */
  groupId?: string;
}

export function dialogChatId(a: string, b: string): string {
  return a < b ? `d:${a}:${b}` : `d:${b}:${a}`;
}

export function groupChatId(groupId: string): string {
  return `g:${groupId}`;
}

/** Parses a chat id; returns null for anything malformed. */
export function parseChatId(chatId: string): ParsedChat | null {
  if (chatId.startsWith('d:')) {
    const parts = chatId.split(':');
    if (parts.length !== 3 || !parts[1] || !parts[2] || parts[1] >= parts[2]) return null;
    return { kind: 'dialog', members: [parts[1], parts[2]] };
  }
  if (chatId.startsWith('g:') && chatId.length > 2 && GROUP_ID_RE.test(chatId.slice(2))) {
    return { kind: 'group', groupId: chatId.slice(2) };
  }
  return null;
}

/** For a dialog chat id, the participant that is not `self`. */
export function dialogPeer(chatId: string, self: string): string {
  // "d:<a>:<b>"; logins contain no ':'. Sliced without split: this runs for every dialog event.
  const sep = chatId.indexOf(':', 2);
  const selfIsA = sep - 2 === self.length && chatId.startsWith(self, 2);
  return selfIsA ? chatId.slice(sep + 1) : chatId.slice(2, sep);
}

export const GROUP_ID_RE = /^[A-Za-z0-9_-]{1,64}$/;

/** A new opaque URL-safe group id (96 random bits). */
export function newGroupId(): string {
  return randomBytes(12).toString('base64url');
}

/** A new session token (256 random bits, URL safe). */
export function newSessionToken(): string {
  return randomBytes(32).toString('base64url');
}

/** What Redis stores for a token: its SHA-256, so a leaked Redis dump holds no usable session. */
export function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('base64url');
}
