/**
 * How events are rendered for sockets: a chat is named from the viewer's side
 * (a dialog by the other participant), a frame for many sockets is serialized
 * once, and a stored message renders the same whichever path brings it (the
 * sender's acknowledgement, the inbox, gap repair).
 */
import type { ChatRef } from '../common/api.js';
import { dialogPeer } from '../common/ids.js';
import { isoTime } from '../common/time.js';
import { MessageStatus, type ChatMessage } from '../proto/gen/gmessenger/v1/common_pb.js';
import type { Frame } from './conn.js';

export const STATUS_NAME: Record<MessageStatus, string> = {
  [MessageStatus.UNSPECIFIED]: 'sent',
  [MessageStatus.SENT]: 'sent',
  [MessageStatus.DELIVERED]: 'delivered',
  [MessageStatus.READ]: 'read',
};

export function chatRef(chatId: string, viewer: string): ChatRef {
  return chatId.startsWith('d:')
    ? { type: 'dialog', id: dialogPeer(chatId, viewer) }
    : { type: 'group', id: chatId.slice(2) };
}

export function eventJson(type: string, payload: unknown): string {
  return JSON.stringify({ type, payload });
}

/** A stored message as the `new_message` event `viewer` receives (its client_id only for its sender). */
export function messageEvent(chatId: string, viewer: string, m: ChatMessage): string {
  const chat = chatRef(chatId, viewer);
  const body: Record<string, unknown> = {
    chat,
    id: m.id,
    text: m.text,
    sender: m.sender,
    status: STATUS_NAME[m.status],
    time: isoTime(m.timeMs),
  };
  if (chat.type === 'dialog') body.receiver = dialogPeer(chatId, m.sender);
  if (m.clientId && m.sender === viewer) body.client_id = m.clientId;
  return eventJson('new_message', body);
}

/** UTF-8 bytes of a frame that goes to several sockets (uWS then copies them without re-encoding). */
export function sharedFrame(json: string, sockets: number): Frame {
  return sockets > 1 ? Buffer.from(json) : json;
}

/**
 * Renders a chat event per viewer: a group's frame is the same for everyone (rendered once), a
 * dialog's names the other participant.
 */
export function chatFrames(chatId: string, render: (chat: ChatRef) => string): (viewer: string) => Frame {
  if (!chatId.startsWith('d:')) {
    let frame: Frame | null = null;
    return (viewer) => (frame ??= sharedFrame(render(chatRef(chatId, viewer)), 2));
  }
  return (viewer) => render(chatRef(chatId, viewer));
}
