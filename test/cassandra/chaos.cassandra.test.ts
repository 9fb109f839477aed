// The chaos test's shard SIGKILL under load (test/e2e/chaos.test.ts) with the cluster storing in Cassandra.
import { onCassandra } from './on-cassandra.js';

process.env.CHAOS_FAULTS ??= 'shard';
process.env.CHAOS_SECONDS ??= '30';
await onCassandra('chaos', () => import('../e2e/chaos.test.js'));
