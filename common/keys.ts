/**
 * The Redis key schema of the whole cluster, in one place. Every key starts
 * with REDIS_PREFIX so several clusters (or test runs) can share one Redis.
 *
 * | key                         | type   | written by         | meaning                                              |
 * |-----------------------------|--------|--------------------|------------------------------------------------------|
 * | session:{tokenHash}         | string | gateway            | login of a session; TTL = session lifetime           |
 * | revoked                     | pubsub | gateway            | token hashes just revoked (gateways close sockets)   |
 * | revoked-ack:{node}          | pubsub | gateway            | acknowledgements of the node's revocations           |
 * | users                       | pubsub | gateway            | a user registered (gateways drop directory caches)   |
 * | shards                      | zset   | shard              | live shards: member "id|host:port", score = expiry ms|
 * | lease:{chatId}              | string | shard              | "shardId:epoch" owning the chat's writes; PX lease   |
 * | gateways                    | zset   | gateway            | live gateways: member node id, score = expiry ms     |
 * | route:{login}               | hash   | gateway, presence  | node id → open sockets of the user on that gateway   |
 * | gw-users:{node}             | set    | gateway, presence  | logins with sockets on the gateway (for cleanup)     |
 * | gw-watch:{node}             | hash   | gateway, presence  | "watcher peer" → sockets of the gateway watching     |
 * | gw:{node}                   | stream | shard, presence    | the gateway's inbox of events to push (InboxEntry)   |
 * | watchers:{login}            | hash   | gateway            | login → sockets watching a dialog with {login}       |
 * | presence:events             | stream | gateway            | first-up / last-down of a user on a gateway          |
 * | presence:state              | hash   | presence           | login → "1:<sinceMs>" online / "0:<lastSeenMs>"      |
 * | presence:online             | set    | presence           | logins whose presence:state is online                |
 * | presence:active             | zset   | gateway            | login → active-until ms (POST /user/active/update)   |
 * | rl:{name}:{id}              | string | gateway            | rate-limit window counter                            |
 * | bull:*                      | (bullmq)| shard, relay      | BullMQ queues (prefix {REDIS_PREFIX}bull)            |
 */
export class Keys {
  constructor(readonly prefix: string) {}

  session(tokenHash: string): string {
    return `${this.prefix}session:${tokenHash}`;
  }
  revokedChannel(): string {
    return `${this.prefix}revoked`;
  }
  revokedAckChannel(node: string): string {
    return `${this.prefix}revoked-ack:${node}`;
  }
  usersChannel(): string {
    return `${this.prefix}users`;
  }
  shards(): string {
    return `${this.prefix}shards`;
  }
  lease(chatId: string): string {
    return `${this.prefix}lease:${chatId}`;
  }
  gateways(): string {
    return `${this.prefix}gateways`;
  }
  route(login: string): string {
    return `${this.prefix}route:${login}`;
  }
  gatewayUsers(node: string): string {
    return `${this.prefix}gw-users:${node}`;
  }
  inbox(node: string): string {
    return `${this.prefix}gw:${node}`;
  }
  gatewayWatches(node: string): string {
    return `${this.prefix}gw-watch:${node}`;
  }
  watchers(login: string): string {
    return `${this.prefix}watchers:${login}`;
  }
  presenceEvents(): string {
    return `${this.prefix}presence:events`;
  }
  presenceState(): string {
    return `${this.prefix}presence:state`;
  }
  presenceOnline(): string {
    return `${this.prefix}presence:online`;
  }
  presenceActive(): string {
    return `${this.prefix}presence:active`;
  }
  rateLimit(name: string, id: string): string {
    return `${this.prefix}rl:${name}:${id}`;
  }
  bullPrefix(): string {
    return `${this.prefix}bull`;
  }
}
