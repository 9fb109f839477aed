/**
 * The presence service process: follows presence:events, keeps presence:state,
 * sweeps dead gateways, pushes user_status through gateway inboxes, and serves
 * PresenceService.Get (gRPC, default port 7300) and /metrics, /healthz, /readyz
 * (default port 9400). SIGTERM/SIGINT stop it gracefully.
 */
import { loadConfig } from '../common/config.js';
import { createLogger } from '../common/logger.js';
import { collectDefaults } from '../common/metrics.js';
import { openStore } from '../store/index.js';
import { startPresenceServer } from './server.js';

const config = loadConfig('presence');
const logger = createLogger('presence', config.nodeId, config.logLevel);
collectDefaults('presence');

try {
  const store = await openStore(config);
  const server = await startPresenceServer(config, logger, store);
  let stopping = false;
  const shutdown = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'presence stopping');
    server
      .close()
      .then(() => store.close())
      .then(
        () => process.exit(0),
        (err: unknown) => {
          logger.error({ err }, 'presence stop failed');
          process.exit(1);
        },
      );
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
} catch (err) {
  logger.fatal({ err }, 'presence failed to start');
  process.exit(1);
}
