/**
 * The presence service process: follows presence:events, keeps presence:state,
 * sweeps dead gateways, pushes user_status through gateway inboxes, and serves
 * PresenceService.Get (gRPC, default port 7300) and /metrics, /healthz, /readyz
 * (default port 9400). SIGTERM/SIGINT stop it gracefully.
 */
import { loadConfig } from '../common/config.js';
import { createLogger } from '../common/logger.js';
import { collectDefaults } from '../common/metrics.js';
import { runUntilStopped } from '../common/service.js';
import { openStore } from '../store/index.js';
import { startPresenceServer } from './server.js';

const config = loadConfig('presence');
const logger = createLogger('presence', config.nodeId, config.logLevel);
collectDefaults('presence');

await runUntilStopped('presence', logger, async () => {
  const store = await openStore(config);
  return [await startPresenceServer(config, logger, store), store];
});
