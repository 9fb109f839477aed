// test/e2e/realtime-delivery.test.ts with the clusters storing in Cassandra (see on-cassandra.ts).
import { onCassandra } from './on-cassandra.js';

await onCassandra('realtime-delivery', () => import('../e2e/realtime-delivery.test.js'));
