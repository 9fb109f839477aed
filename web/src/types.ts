/** Wire types of the public API (docs/API.md): declared once in common/api.ts, shared with the server. */
import type { ChatRef, MessageStatus } from '../../common/api.ts';

export { MAX_TEXT } from '../../common/api.ts';
export type {
  Chat,
  ChatRef,
  ChatType,
  ClientEvent,
  ErrorEvent,
  Group,
  Me,
  Member,
  Message,
  MessageStatus,
  MessageStatusEvent,
  NewMessageEvent,
  ServerEvent,
  TypingEvent,
  UserInfo,
  UserStatusEvent,
} from '../../common/api.ts';

const STATUS_RANK: Record<MessageStatus, number> = { sent: 0, delivered: 1, read: 2 };

/** The further of two statuses; statuses never move backwards. */
export function maxStatus(a: MessageStatus, b: MessageStatus): MessageStatus {
  return STATUS_RANK[a] >= STATUS_RANK[b] ? a : b;
}

/** The map key of a chat: `dialog:bob`, `group:Xy12`. */
export function chatKey(chat: ChatRef): string {
  return `${chat.type}:${chat.id}`;
}
