// test/e2e/rest-auth.test.ts with the clusters storing in Cassandra (see on-cassandra.ts).
import { onCassandra } from './on-cassandra.js';

await onCassandra('rest-auth', () => import('../e2e/rest-auth.test.js'));
