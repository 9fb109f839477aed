/** The Socket.IO peer side of the client abstraction (see bench/lib/transport.ts). */
import type {
  BenchUser,
  ChatSocket,
  ChatSocketHandlers,
  OpenOptions,
  Transport,
  TransportSpec,
} from '../lib/transport.js';
import { connectSio } from './sio-client.js';

let groups = 0;

export class SioTransport implements Transport {
  readonly name = 'socketio';
  readonly spec: TransportSpec;

  constructor(readonly urls: string[]) {
    if (urls.length === 0) throw new Error('need at least one Socket.IO node URL');
    this.spec = { kind: 'socketio', urls };
  }

  get nodes(): number {
    return this.urls.length;
  }

  /** Rooms need no creation; the id only has to be unique. */
  createGroup(owner: BenchUser): Promise<string> {
    return Promise.resolve(`grp-${owner.login}-${process.pid}-${++groups}`);
  }

  openDialog(
    user: BenchUser,
    peer: string,
    node: number,
    h: ChatSocketHandlers,
    o?: OpenOptions,
  ): Promise<ChatSocket> {
    return connectSio(
      this.urls[node % this.urls.length]!,
      { user: user.login, kind: 'dialog', chat: peer },
      h,
      o,
    );
  }

  openGroup(
    user: BenchUser,
    groupId: string,
    node: number,
    h: ChatSocketHandlers,
    o?: OpenOptions,
  ): Promise<ChatSocket> {
    return connectSio(
      this.urls[node % this.urls.length]!,
      { user: user.login, kind: 'group', chat: groupId },
      h,
      o,
    );
  }
}
