/**
 * Route lookup for delivery: the routing table user → gateway nodes that
 * presence maintains (`route:{login}`, written by presence/lua/set-route-5.lua)
 * read together with the gateways' leases.
 */
import type { Redis } from 'ioredis';
import type { Keys } from '../common/keys.js';
import { loadLua } from '../common/lua.js';

const routesLua = loadLua(import.meta.url, 'routes-n');
/** Logins per script call (bounds the time one call holds Redis). */
const CHUNK = 2000;

interface RoutesCommand {
  gmPresenceRoutes(numKeys: number, ...args: (string | number)[]): Promise<string[]>;
}

/**
 * Where users are connected: live gateway node → the given logins with at
 * least one socket there. One script call per 2,000 logins reads their route
 * hashes and the lease of every node found: a node whose lease expired (or that
 * is not registered) is left out even before the presence sweep removes its
 * routes. Logins with no live socket appear nowhere.
 */
export async function routesOf(
  redis: Redis,
  keys: Keys,
  logins: readonly string[],
  now = Date.now(),
): Promise<Map<string, string[]>> {
  const byNode = new Map<string, string[]>();
  if (logins.length === 0) return byNode;
  if (!('gmPresenceRoutes' in redis)) redis.defineCommand('gmPresenceRoutes', { lua: routesLua });
  const cmd = redis as unknown as RoutesCommand;
  const chunks: Promise<string[]>[] = [];
  for (let from = 0; from < logins.length; from += CHUNK) {
    const part = logins.slice(from, from + CHUNK);
    chunks.push(
      cmd.gmPresenceRoutes(part.length + 1, keys.gateways(), ...part.map((l) => keys.route(l)), now),
    );
  }
  const replies = await Promise.all(chunks);
  replies.forEach((reply, c) => {
    const offset = c * CHUNK;
    for (let i = 0; i + 1 < reply.length; i += 2) {
      const node = reply[i]!;
      let list = byNode.get(node);
      if (!list) byNode.set(node, (list = []));
      for (const index of reply[i + 1]!.split(',')) list.push(logins[offset + Number(index)]!);
    }
  });
  return byNode;
}
