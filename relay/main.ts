/**
 * The relay process: BullMQ workers for offline notifications (webhook) and
 * inbox redelivery, and RelayService over gRPC (default port 7200), with
 * /metrics, /healthz, /readyz (default port 9300). SIGTERM/SIGINT stop it
 * gracefully; pending jobs stay in Redis for the next start.
 */
import { loadConfig } from '../common/config.js';
import { createLogger } from '../common/logger.js';
import { collectDefaults } from '../common/metrics.js';
import { runUntilStopped } from '../common/service.js';
import { openStore } from '../store/index.js';
import { startRelayServer } from './server.js';

const config = loadConfig('relay');
const logger = createLogger('relay', config.nodeId, config.logLevel);
collectDefaults('relay');

await runUntilStopped('relay', logger, async () => {
  const store = await openStore(config);
  return [await startRelayServer(config, logger, store), store];
});
