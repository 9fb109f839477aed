// History paging across the 10,000-id partition boundary (test/e2e/history-buckets.test.ts) on Cassandra.
import { onCassandra } from './on-cassandra.js';

await onCassandra('history-buckets', () => import('../e2e/history-buckets.test.js'));
