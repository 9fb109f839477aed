// test/e2e/rest-dialogs.test.ts with the clusters storing in Cassandra (see on-cassandra.ts).
import { onCassandra } from './on-cassandra.js';

await onCassandra('rest-dialogs', () => import('../e2e/rest-dialogs.test.js'));
