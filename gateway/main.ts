/**
 * Gateway process entry: HTTP + WebSocket on uWebSockets.js, routing every
 * chat operation to its shard, pushing inbox events to local sockets.
 */
import { Redis } from 'ioredis';
import { loadConfig } from '../common/config.js';
import { Keys } from '../common/keys.js';
import { createLogger } from '../common/logger.js';
import { collectDefaults, startOpsServer } from '../common/metrics.js';
import { RedisDelivery } from '../delivery/index.js';
import { PresenceClient } from '../presence/index.js';
import { ShardClient, ShardDirectory } from '../shards/index.js';
import { openStore } from '../store/index.js';
import { Auth } from './auth.js';
import { ChatList } from './chats.js';
import { CorkAnchor } from './cork-anchor.js';
import { Router } from './http.js';
import { Hub } from './hub.js';
import { Origins } from './origins.js';
import { PageCache } from './page-cache.js';
import { RateLimiter } from './rate-limit.js';
import { messageEvent } from './render.js';
import { ChatRoutes, expect } from './routes.js';
import { Sessions } from './sessions.js';
import { UserDirectory } from './user-directory.js';
import { serveWebClient } from './static.js';
import { loadUws } from './uws.js';
import { WsEndpoints } from './ws.js';

const config = loadConfig('gateway');
const logger = createLogger('gateway', config.nodeId, config.logLevel);
collectDefaults('gateway');

/** How often delivered marks collected from pushes are sent to the shards. */
const DELIVERED_FLUSH_MS = 50;

async function main(): Promise<void> {
  const uws = loadUws();
  const keys = new Keys(config.redisPrefix);
  const redisOptions = { maxRetriesPerRequest: 2, enableAutoPipelining: true };
  const redis = new Redis(config.redisUrl, redisOptions);
  const subscriber = new Redis(config.redisUrl);
  for (const r of [redis, subscriber]) r.on('error', (err) => logger.warn({ err }, 'redis error'));

  const store = await openStore(config);
  const directory = new ShardDirectory(redis, keys);
  await directory.start();
  const shards = new ShardClient(directory, logger.child({ component: 'shard-client' }));
  const sessions = new Sessions(redis, subscriber, keys, config.sessionTtlS, config.nodeId);
  await sessions.start();
  const presence = new PresenceClient({
    redis,
    keys,
    node: config.nodeId,
    config,
    logger: logger.child({ component: 'presence' }),
  });
  await presence.start();

  // Delivered marks: the highest id pushed per (chat, user), sent as one operation per chat per flush.
  let delivered = new Map<string, Map<string, number>>();
  const deliveredTimer = setInterval(() => {
    if (delivered.size === 0) return;
    const batch = delivered;
    delivered = new Map();
    for (const [chatId, users] of batch) {
      const logins = [...users.keys()];
      shards
        .call(
          chatId,
          logins[0]!,
          { case: 'delivered', value: { users: logins, ids: [...users.values()] } },
          true,
        )
        .catch((err: unknown) => logger.debug({ err, chat: chatId }, 'delivered marks not recorded'));
    }
  }, DELIVERED_FLUSH_MS);
  deliveredTimer.unref();

  const hub = new Hub(
    {
      delivered(chatId, login, id) {
        let users = delivered.get(chatId);
        if (!users) {
          users = new Map();
          delivered.set(chatId, users);
        }
        if ((users.get(login) ?? 0) < id) users.set(login, id);
      },
      async fetchAfter(conn, chatId, after) {
        const h = expect(
          await shards.call(chatId, conn.login, { case: 'history', value: { after, limit: 500 } }, true),
          'history',
        );
        return h.messages.map((m) => ({ id: m.id, json: messageEvent(chatId, conn.login, m) }));
      },
    },
    logger.child({ component: 'hub' }),
  );

  const app = uws.App();
  const origins = new Origins(config);
  const router = new Router(app, {
    bodyLimitBytes: config.bodyLimitBytes,
    trustProxy: config.trustProxy,
    logger,
    origins,
  });
  const cacheBytes = config.gatewayCacheMb * 1024 * 1024;
  const users = new UserDirectory(store, redis, keys, logger, Math.floor(cacheBytes / 2));
  await users.start(subscriber);
  const limiter = new RateLimiter(redis, keys);
  const auth = new Auth(store, sessions, limiter, config, users);
  const chatList = new ChatList(store, sessions, presence, users);
  const routes = new ChatRoutes(store, sessions, shards, presence, new PageCache(Math.floor(cacheBytes / 2)));
  const anchor = new CorkAnchor(logger.child({ component: 'cork-anchor' }));
  const ws = new WsEndpoints({
    node: config.nodeId,
    config,
    store,
    sessions,
    shards,
    presence,
    hub,
    logger,
    limiter,
    origins,
    anchor,
  });
  sessions.onRevoked((tokenHash) => ws.revoke(tokenHash));

  router.route('/register', { post: auth.register }, { session: false });
  router.route('/login', { post: auth.login }, { session: false });
  router.route('/logout', { post: auth.logout });
  router.route('/me', { get: auth.me });
  router.route('/chats', { get: chatList.chats });
  router.route('/users', { get: chatList.users });
  router.route('/dialog/:login', { get: routes.dialog });
  router.route('/groups', { post: routes.createGroup });
  router.route('/group/:id', { get: routes.group });
  router.route('/group/:id/members', { get: routes.members, post: routes.addMember });
  router.route('/group/:id/members/:login', { delete: routes.removeMember });
  router.route('/user/active/update', { post: routes.markActive });
  router.route('/user/active/:login', { get: routes.userActive });
  ws.register(app);
  anchor.register(app);
  const files = serveWebClient(app, config.webRoot, logger, {
    publicOrigin: config.publicOrigin,
    trustProxy: config.trustProxy,
    session: auth.pageSession,
  });
  router.fallback();

  const delivery = new RedisDelivery({ redis, keys, inboxMaxLen: config.inboxMaxLen, logger });
  const inbox = delivery.subscribe(
    config.nodeId,
    (entry) => hub.dispatch(entry),
    (handle) => hub.out.turn(handle),
  );
  await inbox.start();

  const listenSocket = await new Promise<unknown>((resolve, reject) => {
    app.listen(config.httpHost, config.httpPort, (socket) =>
      socket ? resolve(socket) : reject(new Error(`cannot listen on ${config.httpHost}:${config.httpPort}`)),
    );
  });
  await anchor.start(config.httpHost, uws.us_socket_local_port(listenSocket as never));
  let ready = true;
  const ops = await startOpsServer(config.metricsHost, config.metricsPort || 9100, () => ready);
  logger.info(
    { http: `http://${config.httpHost}:${config.httpPort}/`, metricsPort: ops.port, webFiles: files },
    'gateway ready',
  );

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    ready = false;
    logger.info({ signal }, 'gateway draining');
    uws.us_listen_socket_close(listenSocket as never);
    anchor.stop();
    ws.closeAll();
    clearInterval(deliveredTimer);
    await inbox.stop();
    await presence.stop().catch(() => undefined);
    directory.stop();
    shards.close();
    await store.close();
    await ops.close();
    redis.disconnect();
    subscriber.disconnect();
    logger.info('gateway stopped');
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
}

main().catch((err: unknown) => {
  logger.fatal({ err }, 'gateway failed to start');
  process.exit(1);
});
