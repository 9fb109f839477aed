/**
 * Delivery inside one process, for unit tests: a routing table kept here
 * (`connect` / `disconnect`), events of one event-loop turn routed together
 * exactly as the Redis adapter routes them (split.ts), and each gateway's
 * entries kept in order (`inbox`) and handed to its subscribers.
 */
import { SerialTurn } from '../common/turn.js';
import type { Delivery, DeliveryEvent, Subscription } from './delivery.js';
import type { InboxEntry } from './format.js';
import { audienceOf, splitByGateway } from './split.js';

type Handler = { onEntry: (entry: InboxEntry) => void; batch: (handle: () => void) => void };

export class MemoryDelivery implements Delivery {
  /** login → node → open sockets there. */
  private readonly routes = new Map<string, Map<string, number>>();
  private readonly gateways = new Set<string>();
  private readonly inboxes = new Map<string, InboxEntry[]>();
  private readonly handlers = new Map<string, Set<Handler>>();
  private queue: DeliveryEvent[] = [];
  private readonly turn = new SerialTurn(async () => this.flush());

  /** Registers a socket of `login` on gateway `node` (presence does this for the Redis adapter). */
  connect(login: string, node: string): void {
    this.gateways.add(node);
    let nodes = this.routes.get(login);
    if (!nodes) this.routes.set(login, (nodes = new Map()));
    nodes.set(node, (nodes.get(node) ?? 0) + 1);
  }

  disconnect(login: string, node: string): void {
    const nodes = this.routes.get(login);
    const n = (nodes?.get(node) ?? 0) - 1;
    if (!nodes) return;
    if (n > 0) nodes.set(node, n);
    else nodes.delete(node);
    if (nodes.size === 0) this.routes.delete(login);
  }

  /** Every entry written to gateway `node`'s inbox so far, oldest first. */
  inbox(node: string): InboxEntry[] {
    return this.inboxes.get(node) ?? [];
  }

  publish(event: DeliveryEvent): void {
    this.queue.push(event);
    this.turn.schedule();
  }

  drain(): Promise<void> {
    return this.turn.drain(() => this.queue.length > 0);
  }

  subscribe(
    node: string,
    onEntry: (entry: InboxEntry) => void,
    batch: (handle: () => void) => void = (handle) => handle(),
  ): Subscription {
    const handler: Handler = { onEntry, batch };
    return {
      start: async () => {
        this.gateways.add(node);
        let set = this.handlers.get(node);
        if (!set) this.handlers.set(node, (set = new Set()));
        set.add(handler);
      },
      stop: async () => {
        this.handlers.get(node)?.delete(handler);
      },
    };
  }

  private flush(): void {
    const events = this.queue;
    this.queue = [];
    const { logins } = audienceOf(events);
    const routes = new Map<string, string[]>();
    for (const login of logins) {
      for (const node of this.routes.get(login)?.keys() ?? []) {
        const users = routes.get(node);
        if (users) users.push(login);
        else routes.set(node, [login]);
      }
    }
    for (const [node, entries] of splitByGateway(events, routes, [...this.gateways])) {
      let inbox = this.inboxes.get(node);
      if (!inbox) this.inboxes.set(node, (inbox = []));
      inbox.push(...entries);
      for (const h of this.handlers.get(node) ?? []) {
        h.batch(() => {
          for (const entry of entries) h.onEntry(entry);
        });
      }
    }
  }
}
