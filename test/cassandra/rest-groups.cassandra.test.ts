// test/e2e/rest-groups.test.ts with the clusters storing in Cassandra (see on-cassandra.ts).
import { onCassandra } from './on-cassandra.js';

await onCassandra('rest-groups', () => import('../e2e/rest-groups.test.js'));
