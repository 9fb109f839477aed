/**
 * Runs an end-to-end suite with every test cluster storing in Cassandra: the
 * `*.cassandra.test.ts` files beside this one each load one suite of
 * test/e2e through `onCassandra`, after pointing the harness at the run's
 * Cassandra node (TEST_STORE=cassandra; each cluster gets its own keyspace).
 * Where no node is available the suite fails in CI and is skipped elsewhere,
 * with the reason (test/harness/cassandra.ts).
 */
import { cassandraMissing, releaseVersion, testCassandra } from '../harness/cassandra.js';

export async function onCassandra(name: string, load: () => Promise<unknown>): Promise<void> {
  const node = testCassandra();
  if ('unavailable' in node) {
    cassandraMissing(`${name} on Cassandra`, node.unavailable);
    return;
  }
  process.env.TEST_STORE = 'cassandra';
  console.log(
    `${name}: every cluster stores in Apache Cassandra ${await releaseVersion(node)} at ${node.contactPoints.join(',')}`,
  );
  await load();
}
