// test/e2e/realtime-failover.test.ts with the clusters storing in Cassandra (see on-cassandra.ts).
import { onCassandra } from './on-cassandra.js';

await onCassandra('realtime-failover', () => import('../e2e/realtime-failover.test.js'));
