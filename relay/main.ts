/**
 * The relay process: BullMQ workers for offline notifications (webhook) and
 * inbox redelivery, and RelayService over gRPC (default port 7200), with
 * /metrics, /healthz, /readyz (default port 9300). SIGTERM/SIGINT stop it
 * gracefully; pending jobs stay in Redis for the next start.
 */
import { loadConfig } from '../common/config.js';
import { createLogger } from '../common/logger.js';
import { collectDefaults } from '../common/metrics.js';
import { openStore } from '../store/index.js';
import { startRelayServer } from './server.js';

const config = loadConfig('relay');
const logger = createLogger('relay', config.nodeId, config.logLevel);
collectDefaults('relay');

try {
  const store = await openStore(config);
  const server = await startRelayServer(config, logger, store);
  let stopping = false;
  const shutdown = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'relay stopping');
    server
      .close()
      .then(() => store.close())
      .then(
        () => process.exit(0),
        (err: unknown) => {
          logger.error({ err }, 'relay stop failed');
          process.exit(1);
        },
      );
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
} catch (err) {
  logger.fatal({ err }, 'relay failed to start');
  process.exit(1);
}
