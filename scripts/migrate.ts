/**
 * One-shot migration step (the compose `migrate` service, or by hand before a rollout):
 * opens the configured store, which creates the keyspace/schema and applies every pending
 * versioned migration, then closes it and exits 0. Exits 1 with the error otherwise.
 * Usage: STORE=cassandra CASSANDRA_CONTACT_POINTS=... node dist/scripts/migrate.js
 */
import { loadConfig } from '../common/config.js';
import { openStore } from '../store/index.js';

const started = Date.now();
try {
  const config = loadConfig('migrate');
  const where =
    config.store === 'cassandra'
      ? `cassandra ${config.cassandraContactPoints.join(',')} keyspace ${config.cassandraKeyspace}`
      : `sqlite ${config.sqlitePath}`;
  console.log(`migrate: opening ${where}`);
  const store = await openStore(config);
  await store.close();
  console.log(`migrate: schema up to date (${Date.now() - started} ms)`);
} catch (err) {
  console.error('migrate: failed:', err);
  process.exitCode = 1;
}
