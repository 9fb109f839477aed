/**
 * The Cassandra adapter family: one driver client shared by the user, group
 * and message stores. Opening validates the options, connects, applies the
 * schema migrations (cassandra/migrate.ts) and only then returns the store.
 * Runs on stock Apache Cassandra 4.0 and later; see cassandra/migrations.ts
 * for the tables and cassandra/layout.ts for how they are partitioned.
 */
import { Client } from 'cassandra-driver';
import type { Store } from './store.js';
import { CassandraGroupStore } from './group-store.cassandra.js';
import { CassandraMessageStore } from './message-store.cassandra.js';
import { CassandraUserStore } from './user-store.cassandra.js';
import { migrate } from './cassandra/migrate.js';
import { checkKeyspaceName, parseReplication } from './cassandra/replication.js';
import { CqlSession, isConsistencyName, type ConsistencyName } from './cassandra/session.js';

/** How to reach and lay out the cluster; mirrors the CASSANDRA_* configuration keys. */
export interface CassandraStoreOptions {
  /** Hosts (`host` or `host:port`) the driver first connects to; it discovers the rest. */
  contactPoints: string[];
  /** Datacenter whose nodes coordinate requests (DefaultLoadBalancingPolicy). */
  localDataCenter: string;
  /** Keyspace, created when missing: 1-48 chars of [a-z0-9_] starting with a letter. */
  keyspace: string;
  /** Replication used when the keyspace is created: "SimpleStrategy:<rf>" or "NetworkTopologyStrategy:<dc>=<rf>[,<dc>=<rf>]". */
  replication: string;
  /** Consistency of every read and write. @default 'LOCAL_QUORUM' */
  consistency: 'ONE' | 'LOCAL_ONE' | 'QUORUM' | 'LOCAL_QUORUM' | 'ALL';
  /** Empty: connect without authentication. */
  username: string;
  password: string;
}

class CassandraStore implements Store {
  readonly users: CassandraUserStore;
  readonly groups: CassandraGroupStore;
  readonly messages: CassandraMessageStore;

  constructor(
    private readonly session: CqlSession,
    keyspace: string,
  ) {
    this.users = new CassandraUserStore(session, keyspace);
    this.groups = new CassandraGroupStore(session, keyspace);
    this.messages = new CassandraMessageStore(session, keyspace);
  }

  close(): Promise<void> {
    return this.session.close();
  }
}

/** Connects, creates or migrates the keyspace, and returns the store; throws on bad options before connecting. */
export async function openCassandraStore(options: CassandraStoreOptions): Promise<Store> {
  const keyspace = checkKeyspaceName(options.keyspace);
  const replication = parseReplication(options.replication);
  const consistency: ConsistencyName = options.consistency || 'LOCAL_QUORUM';
  if (!isConsistencyName(consistency)) {
    throw new Error(
      `invalid configuration: CASSANDRA_CONSISTENCY must be one of ONE, LOCAL_ONE, QUORUM, LOCAL_QUORUM, ALL, got "${consistency}"`,
    );
  }
  if (options.contactPoints.length === 0) {
    throw new Error('invalid configuration: CASSANDRA_CONTACT_POINTS must name at least one host');
  }
  if (!options.localDataCenter) throw new Error('invalid configuration: CASSANDRA_LOCAL_DC must be set');

  const client = new Client({
    contactPoints: [...options.contactPoints],
    localDataCenter: options.localDataCenter,
    credentials: options.username ? { username: options.username, password: options.password } : undefined,
    protocolOptions: { maxSchemaAgreementWaitSeconds: 30 },
  });
  try {
    await client.connect();
    await migrate(client, { keyspace, replication, localDataCenter: options.localDataCenter, consistency });
  } catch (err) {
    await client.shutdown().catch(() => undefined);
    throw err;
  }
  return new CassandraStore(new CqlSession(client, consistency), keyspace);
}
