/** A stored message as the internal contracts carry it (`gmessenger.v1.ChatMessage`). */
import type { MessageInitShape } from '@bufbuild/protobuf';
import type { MessageStatus as StatusName } from '../common/api.js';
import { MessageStatus, type ChatMessageSchema } from './gen/gmessenger/v1/common_pb.js';

const STATUS: Record<StatusName, MessageStatus> = {
  sent: MessageStatus.SENT,
  delivered: MessageStatus.DELIVERED,
  read: MessageStatus.READ,
};

/** The fields of a stored message (store/types.ts StoredMessage), with its status when known. */
export interface MessageFields {
  chatId: string;
  id: number;
  sender: string;
  text: string;
  /** ms since the epoch. */
  time: number;
  clientId: string | null;
  status?: StatusName;
}

export function toChatMessage(m: MessageFields): MessageInitShape<typeof ChatMessageSchema> {
  return {
    chatId: m.chatId,
    id: m.id,
    sender: m.sender,
    text: m.text,
    timeMs: m.time,
    clientId: m.clientId ?? '',
    ...(m.status ? { status: STATUS[m.status] } : {}),
  };
}
