// The SIGSTOP fencing test (test/e2e/fencing.test.ts) with the cluster storing in Cassandra.
import { onCassandra } from './on-cassandra.js';

await onCassandra('fencing', () => import('../e2e/fencing.test.js'));
