/**
 * The store's public entry: ports, records and `openStore`, which picks the
 * adapter family from configuration (SQLite by default, Cassandra with
 * STORE=cassandra). Other components import the store only from here.
 */
import type { Config } from '../common/config.js';
import type { Store } from './store.js';

export type { Store } from './store.js';
export type { UserStore } from './user-store.js';
export type { GroupStore } from './group-store.js';
export type { MessageStore } from './message-store.js';
export type * from './types.js';
export { ChatWriteError, FencedError, type Claim } from './fence.js';

/** Opens (and migrates) the configured store. */
export async function openStore(config: Config): Promise<Store> {
  if (config.store === 'cassandra') {
    const { openCassandraStore } = await import('./store.cassandra.js');
    return openCassandraStore({
      contactPoints: [...config.cassandraContactPoints],
      localDataCenter: config.cassandraLocalDc,
      keyspace: config.cassandraKeyspace,
      replication: config.cassandraReplication,
      consistency: config.cassandraConsistency,
      username: config.cassandraUsername,
      password: config.cassandraPassword,
    });
  }
  const { openSqliteStore } = await import('./store.sqlite.js');
  return openSqliteStore(config.sqlitePath);
}
