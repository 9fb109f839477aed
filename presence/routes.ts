import type { Redis } from 'ioredis';
import type { Keys } from '../common/keys.js';

/**
 * Where users are connected: live gateway node → the given logins with at
 * least one socket there. One pipelined HKEYS per login plus one ZMSCORE of
 * the nodes found; a node whose lease expired (or that is not registered) is
 * left out even before the presence sweep removes its routes. Logins with no
 * live socket appear nowhere.
 */
export async function routesOf(
  redis: Redis,
  keys: Keys,
  logins: readonly string[],
  now = Date.now(),
): Promise<Map<string, string[]>> {
  const byNode = new Map<string, string[]>();
  if (logins.length === 0) return byNode;
  const pipeline = redis.pipeline();
  for (const login of logins) pipeline.hkeys(keys.route(login));
  const replies = (await pipeline.exec()) ?? [];
  replies.forEach(([err, nodes], i) => {
    if (err) throw err;
    for (const node of nodes as string[]) {
      let list = byNode.get(node);
      if (!list) byNode.set(node, (list = []));
      list.push(logins[i]!);
    }
  });
  if (byNode.size === 0) return byNode;
  const nodes = [...byNode.keys()];
  const expiries = await redis.zmscore(keys.gateways(), ...nodes);
  nodes.forEach((node, i) => {
    const expiry = expiries[i];
    if (expiry === null || expiry === undefined || Number(expiry) <= now) byNode.delete(node);
  });
  return byNode;
}
