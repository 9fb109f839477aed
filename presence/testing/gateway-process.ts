/**
 * A stand-in gateway process for presence tests that need a gateway to die
 * for real (SIGKILL): it runs a real PresenceClient with the environment's
 * configuration, opens one socket for each login given on the command line
 * (`login>peer` also opens the dialog with peer), prints "ready" and then only
 * heartbeats until it is killed (or stopped with SIGSTOP to play a stall).
 */
import { Redis } from 'ioredis';
import { loadConfig } from '../../common/config.js';
import { Keys } from '../../common/keys.js';
import { createLogger } from '../../common/logger.js';
import { PresenceClient } from '../index.js';

const config = loadConfig('gateway');
const logger = createLogger('gateway', config.nodeId, config.logLevel);
const redis = new Redis(config.redisUrl);
const client = new PresenceClient({
  redis,
  keys: new Keys(config.redisPrefix),
  node: config.nodeId,
  config,
  logger,
});
await client.start();
for (const arg of process.argv.slice(2)) {
  const [login, peer] = arg.split('>') as [string, string | undefined];
  await client.connected(login);
  if (peer) await client.watch(login, peer);
}
process.stdout.write('ready\n');
process.on('SIGTERM', () => {
  void client.stop().then(() => process.exit(0));
});
