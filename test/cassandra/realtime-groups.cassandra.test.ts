// test/e2e/realtime-groups.test.ts with the clusters storing in Cassandra (see on-cassandra.ts).
import { onCassandra } from './on-cassandra.js';

await onCassandra('realtime-groups', () => import('../e2e/realtime-groups.test.js'));
