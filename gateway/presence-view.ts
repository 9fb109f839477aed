/**
 * What the gateway needs from presence (implemented by presence/'s
 * PresenceClient): connection bookkeeping for routing and online status,
 * activity marks, and cheap cached reads for REST responses.
 */
export interface PresenceInfo {
  online: boolean;
  /** ms since the epoch; null when never seen. */
  lastSeen: number | null;
}

export interface PresenceView {
  /** Changes whenever a user's presence changes through this gateway (sockets, activity). */
  readonly localVersion: number;
  get(logins: readonly string[]): Promise<Map<string, PresenceInfo>>;
  markActive(login: string): Promise<void>;
  connected(login: string): Promise<void>;
  disconnected(login: string): Promise<void>;
  watch(login: string, peer: string): Promise<void>;
  unwatch(login: string, peer: string): Promise<void>;
}
