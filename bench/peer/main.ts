/**
 * `npm run bench:peer`: starts the Socket.IO peer baseline (2 nodes and a
 * redis-server) and keeps it running until Ctrl-C, for runs of your own
 * (`npm run bench:ws -- dialog --peer` starts and stops one by itself).
 */
import { parseArgs } from '../lib/args.js';
import { startPeerCluster } from './cluster.js';

const args = parseArgs(process.argv.slice(2));
const peer = await startPeerCluster(args.number('nodes', 2));
console.log(`Socket.IO peer nodes: ${peer.urls.join(' ')} (redis ${peer.redis.url}); Ctrl-C stops them`);
const stop = () => {
  peer.stop().then(
    () => process.exit(0),
    () => process.exit(1),
  );
};
process.once('SIGINT', stop);
process.once('SIGTERM', stop);
