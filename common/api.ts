/**
 * The public API's limits and wire types (docs/API.md) in one module: the
 * gateway and the shards check the limits and render the types, and the web
 * client (web/src/types.ts) imports the same declarations. Constants and types
 * only, nothing that needs Node: the browser build bundles this file.
 */

/** Most characters (Unicode code points) of a message text. */
export const MAX_TEXT = 4096;
/** Most members of a group, and most members named when creating one. */
export const MAX_GROUP_MEMBERS = 1000;

export type ChatType = 'dialog' | 'group';
export type MessageStatus = 'sent' | 'delivered' | 'read';

/** A chat as named on the wire: for dialogs `id` is the other participant's login. */
export interface ChatRef {
  type: ChatType;
  id: string;
}

export interface Me {
  login: string;
  username: string;
}

/** One entry of `GET /chats`. */
export interface Chat {
  type: ChatType;
  id: string;
  name: string;
  last_message: string | null;
  last_message_id: number | null;
  last_message_time: string | null;
  unread: number;
  public?: boolean;
  is_online?: boolean;
  last_seen?: string | null;
}

/** A stored message from `GET /dialog/{login}` or `GET /group/{id}`. */
export interface Message {
  id: number;
  sender: string;
  receiver?: string;
  text: string;
  status: MessageStatus;
  time: string;
}

export interface UserInfo {
  login: string;
  username: string;
  is_online: boolean;
  last_seen: string | null;
}

export interface Member extends UserInfo {
  role: 'owner' | 'member';
}

export interface Group {
  id: string;
  name: string;
  public: boolean;
  owner: string;
  members: string[];
}

export interface NewMessageEvent {
  id: number;
  chat: ChatRef;
  text: string;
  sender: string;
  receiver?: string;
  status: MessageStatus;
  time: string;
  client_id?: string;
}

export interface MessageStatusEvent {
  chat: ChatRef;
  id: number;
  status: MessageStatus;
}

export interface UserStatusEvent {
  user_login: string;
  is_online: boolean;
  last_seen: string | null;
}

export interface TypingEvent {
  chat: ChatRef;
  user_login: string;
}

export interface ErrorEvent {
  code: string;
  message: string;
  client_id?: string;
}

/** Every server → client frame on `/chats/ws`. */
export type ServerEvent =
  | { type: 'new_message'; payload: NewMessageEvent }
  | { type: 'message_status'; payload: MessageStatusEvent }
  | { type: 'user_status'; payload: UserStatusEvent }
  | { type: 'typing'; payload: TypingEvent }
  | { type: 'error'; payload: ErrorEvent };

/** Every client → server frame the web client sends. */
export type ClientEvent =
  | { type: 'send_message'; payload: { text: string; client_id: string; chat: ChatRef } }
  | { type: 'read'; payload: { id: number; chat: ChatRef } }
  | { type: 'typing'; payload: { chat: ChatRef } }
  | { type: 'user_activity'; payload: Record<string, never> };
