import type { GroupStore } from './group-store.js';
import type { MessageStore } from './message-store.js';
import type { UserStore } from './user-store.js';

/** The storage ports bundled for a process; one adapter family provides all three. */
export interface Store {
  readonly users: UserStore;
  readonly groups: GroupStore;
  readonly messages: MessageStore;
  /** Releases connections; pending writes complete first. */
  close(): Promise<void>;
}
