/**
 * Routing of one flush of events to gateways, shared by the adapters: which
 * logins to look up, and each gateway's entries once their routes are known.
 */
import type { DeliveryEvent } from './delivery.js';
import type { InboxEntry } from './format.js';

/** The logins whose routes the events need, and whether any event goes to every gateway. */
export function audienceOf(events: readonly DeliveryEvent[]): { logins: Set<string>; anyBroadcast: boolean } {
  const logins = new Set<string>();
  let anyBroadcast = false;
  for (const e of events) {
    if (e.users === '*') anyBroadcast = true;
    else for (const u of e.users) logins.add(u);
  }
  return { logins, anyBroadcast };
}

/**
 * One list of entries per gateway, events in queue order: an event's users split by the gateways they are
 * on (`routes`: node → users there), a broadcast to every gateway in `gateways`, `skip` honoured. Calls each
 * event's `onOffline` with its users that have no route.
 */
export function splitByGateway(
  events: readonly DeliveryEvent[],
  routes: ReadonlyMap<string, readonly string[]>,
  gateways: readonly string[],
): Map<string, InboxEntry[]> {
  // login → nodes, for splitting each event's audience
  const nodesOf = new Map<string, string[]>();
  for (const [node, users] of routes) {
    for (const u of users) {
      const list = nodesOf.get(u);
      if (list) list.push(node);
      else nodesOf.set(u, [node]);
    }
  }
  const perGateway = new Map<string, InboxEntry[]>();
  const add = (node: string, entry: InboxEntry) => {
    const list = perGateway.get(node);
    if (list) list.push(entry);
    else perGateway.set(node, [entry]);
  };
  // The event's users split by node (reused across events: this runs for every event of the flush).
  const perNode = new Map<string, string[]>();
  const entryFor = (e: DeliveryEvent, users: string[] | '*'): InboxEntry => ({
    type: e.type,
    chatId: e.chatId,
    users,
    excludeConn: e.excludeConn,
    payload: e.payload,
    storedAtMs: e.storedAtMs,
  });
  for (const e of events) {
    if (e.users === '*') {
      const entry = entryFor(e, '*');
      for (const node of gateways) add(node, entry);
      continue;
    }
    const skip = e.skip;
    let offline: string[] | null = null;
    perNode.clear();
    for (const u of e.users) {
      const nodes = nodesOf.get(u);
      if (!nodes || nodes.length === 0) {
        (offline ??= []).push(u);
        continue;
      }
      for (const node of nodes) {
        if (skip && node === skip.node && u === skip.user) continue;
        const list = perNode.get(node);
        if (list) list.push(u);
        else perNode.set(node, [u]);
      }
    }
    for (const [node, users] of perNode) add(node, entryFor(e, users));
    if (offline && e.onOffline) e.onOffline(offline);
  }
  return perGateway;
}
