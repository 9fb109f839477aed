/**
 * The client abstraction the scenarios drive, so that the same generator logic
 * loads gmessenger and the Socket.IO peer and their numbers compare.
 *
 * A `ChatSocket` is one client connection bound to one chat (a dialog with a
 * peer, or a group). `send` publishes a message with a client id; the
 * transport reports the sender's acknowledgement and every delivery through
 * `onMessage` (an event carrying the sender's own client id on the sending
 * socket is its acknowledgement).
 */

/** A user the load tools act as. For gmessenger `token` is the session token. */
export interface BenchUser {
  login: string;
  token: string;
}

/** A message seen on a socket: a delivery, or (with `clientId`, on the sender's socket) an acknowledgement. */
export interface MessageEvent {
  id: number;
  text: string;
  sender: string;
  clientId: string | undefined;
}

export interface ChatSocketHandlers {
  onMessage(ev: MessageEvent): void;
  /** A rejected event (`error` in API.md); `clientId` when it answers a send. */
  onError?(code: string, clientId: string | undefined): void;
  /** The socket closed (by either side). */
  onClose?(code: number): void;
  /** Any other event (user_status, message_status, typing, ...), by type. */
  onOther?(type: string): void;
}

export interface ChatSocket {
  send(text: string, clientId: string): void;
  /** Bytes queued in the client but not yet written to the kernel. */
  readonly bufferedAmount: number;
  close(): void;
}

/** Where a transport connects; serializable so child processes can rebuild it. */
export type TransportSpec =
  { kind: 'gmessenger'; httpUrls: string[]; wsUrls: string[] } | { kind: 'socketio'; urls: string[] };

export interface OpenOptions {
  /** Client source address (127.x.y.z). */
  localAddress?: string;
  /** @default 15000 */
  timeoutMs?: number;
}

export interface Transport {
  /** 'gmessenger' or 'socketio'. */
  readonly name: string;
  readonly spec: TransportSpec;
  /** Number of server nodes (gateways) sockets can be spread over. */
  readonly nodes: number;
  /** Creates a group owned by `owner` whose other members are `members`; returns its id. */
  createGroup(owner: BenchUser, members: BenchUser[]): Promise<string>;
  /** Opens `user`'s socket for the dialog with `peer` on node `node`. */
  openDialog(
    user: BenchUser,
    peer: string,
    node: number,
    h: ChatSocketHandlers,
    o?: OpenOptions,
  ): Promise<ChatSocket>;
  /** Opens `user`'s socket for group `groupId` on node `node`. */
  openGroup(
    user: BenchUser,
    groupId: string,
    node: number,
    h: ChatSocketHandlers,
    o?: OpenOptions,
  ): Promise<ChatSocket>;
}

/**
 * Client ids in UUID shape that carry a sequence number in their last 12 hex
 * digits, so an acknowledgement maps back to its message without a lookup.
 */
export class ClientIds {
  private readonly prefix: string;

  /** @param run 8 hex digits identifying this run (or process) */
  constructor(run: string) {
    if (!/^[0-9a-f]{8}$/.test(run)) throw new Error('run must be 8 hex digits');
    this.prefix = `${run}-0000-4000-8000-`;
  }

  make(seq: number): string {
    return this.prefix + seq.toString(16).padStart(12, '0');
  }

  /** The sequence number of a client id made by this instance, or -1. */
  parse(clientId: string | undefined): number {
    if (!clientId || clientId.length !== 36 || !clientId.startsWith(this.prefix)) return -1;
    const n = parseInt(clientId.slice(24), 16);
    return Number.isFinite(n) ? n : -1;
  }
}

/**
 * Message texts start with the sequence number and the send time (epoch ms),
 * `"<seq>|<sentAtMs>|"`, then padding up to the requested size; receivers
 * recover both without a lookup table shared with the sender.
 */
export function messageText(seq: number, sentAtMs: number, size: number): string {
  const head = `${seq}|${sentAtMs.toFixed(3)}|`;
  return size > head.length ? head + 'x'.repeat(size - head.length) : head;
}

/** The sequence number at the start of a message text, or -1. */
export function textSeq(text: string): number {
  const bar = text.indexOf('|');
  if (bar <= 0) return -1;
  const n = Number(text.slice(0, bar));
  return Number.isInteger(n) && n >= 0 ? n : -1;
}
