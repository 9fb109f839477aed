// test/e2e/rest-chats.test.ts with the clusters storing in Cassandra (see on-cassandra.ts).
import { onCassandra } from './on-cassandra.js';

await onCassandra('rest-chats', () => import('../e2e/rest-chats.test.js'));
