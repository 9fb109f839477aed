import { groupChatId } from '../common/ids.js';
import type { Marks, Store, StoredMessage } from '../store/index.js';

/** Default and largest number of messages returned per chat by Unsent. */
export const UNSENT_DEFAULT_PER_CHAT = 100;
export const UNSENT_MAX_PER_CHAT = 500;
const CONCURRENCY = 16;

export type DeliveryStatus = 'sent' | 'delivered' | 'read';

export interface UnsentMessage extends StoredMessage {
  /** From the sender's point of view, as in history (API.md). */
  status: DeliveryStatus;
}

/**
 * What `receiver` has not received: in every chat of theirs (dialogs with
 * messages and groups they are a member of), the oldest `limitPerChat`
 * messages after their delivered mark — exactly what the catch-up call
 * `GET /dialog/{peer}?after=<delivered mark>` (or the group equivalent)
 * returns. Chats in no particular order, messages of a chat by id.
 */
export async function unsentFor(
  store: Store,
  receiver: string,
  limitPerChat: number,
): Promise<UnsentMessage[]> {
  const [dialogs, groups] = await Promise.all([
    store.messages.dialogsOfUser(receiver),
    store.groups.groupsOfUser(receiver),
  ]);
  const chats = [...dialogs, ...groups.map(groupChatId)];
  if (chats.length === 0) return [];
  const [states, marks] = await Promise.all([
    store.messages.chatStates(chats),
    store.messages.marksOfUser(receiver, chats),
  ]);
  const behind = chats.filter(
    (chatId) => (states.get(chatId)?.lastId ?? 0) > (marks.get(chatId)?.deliveredId ?? 0),
  );
  const perChat: UnsentMessage[][] = [];
  for (let i = 0; i < behind.length; i += CONCURRENCY) {
    perChat.push(
      ...(await Promise.all(
        behind.slice(i, i + CONCURRENCY).map(async (chatId) => {
          const [messages, chatMarks] = await Promise.all([
            store.messages.history(chatId, {
              after: marks.get(chatId)?.deliveredId ?? 0,
              limit: limitPerChat,
            }),
            store.messages.marks(chatId),
          ]);
          return messages.map((m) => ({ ...m, status: statusOf(m, chatMarks) }));
        }),
      )),
    );
  }
  return perChat.flat();
}

/** sent / delivered / read: whether someone other than the sender has received or read it. */
function statusOf(message: StoredMessage, marks: readonly Marks[]): DeliveryStatus {
  let status: DeliveryStatus = 'sent';
  for (const m of marks) {
    if (m.login === message.sender) continue;
    if (m.readId >= message.id) return 'read';
    if (m.deliveredId >= message.id) status = 'delivered';
  }
  return status;
}
