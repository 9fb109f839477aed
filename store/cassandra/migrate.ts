/**
 * Applies the schema at start: creates the keyspace with the configured
 * replication when missing, then the `schema_migrations` table, then every
 * migration not yet recorded as applied, in version order.
 *
 * Several processes may start at once. Each migration is claimed with a
 * conditional insert (`IF NOT EXISTS`, Paxos) into `schema_migrations`; only
 * the claimant runs its DDL, refreshing the claim after each statement, and
 * marks it applied with `IF owner = <itself>`. Others poll until it is
 * applied; a claim not refreshed for a minute is taken over (its owner died),
 * which is safe because every statement is `IF NOT EXISTS`.
 *
 * The statements that all processes run before any claim exists (the keyspace
 * and `schema_migrations` itself) go to one coordinator chosen the same way by
 * everyone (the first live local host by address): concurrent `CREATE TABLE`
 * on different coordinators can give a table two ids on Cassandra before 5.1,
 * while one coordinator applies them one after the other. Every DDL statement
 * is followed by a wait for schema agreement.
 */
import { createHash, randomUUID } from 'node:crypto';
import os from 'node:os';
import { types, type Client, type Host } from 'cassandra-driver';
import { sleep } from '../../common/time.js';
import { MIGRATIONS, migrationsTableCql, type Migration } from './migrations.js';
import { replicationCql, type Replication } from './replication.js';
import { serialFor, type ConsistencyName } from './session.js';

export interface MigrateOptions {
  keyspace: string;
  replication: Replication;
  localDataCenter: string;
  consistency: ConsistencyName;
  /** How long to wait for schema agreement or for another process's migration. @default 120000 */
  timeoutMs?: number;
}

/** A claim whose owner has not refreshed it for this long is considered abandoned. */
const STALE_CLAIM_MS = 60_000;
const POLL_MS = 250;

/** The statements on `schema_migrations` (exported for the schema cross-check in schema.test.ts). */
export function migrationQueries(ks: string) {
  const table = `${ks}.schema_migrations`;
  return {
    read: `SELECT state, owner, updated_at FROM ${table} WHERE version = ?`,
    claim: `INSERT INTO ${table} (version, name, state, owner, updated_at) VALUES (?, ?, 'running', ?, ?) IF NOT EXISTS`,
    takeOver: `UPDATE ${table} SET owner = ?, updated_at = ? WHERE version = ? IF owner = ? AND state = 'running'`,
    refresh: `UPDATE ${table} SET updated_at = ? WHERE version = ? IF owner = ?`,
    finish: `UPDATE ${table} SET state = 'applied', updated_at = ? WHERE version = ? IF owner = ?`,
  };
}

/** checkSchemaAgreement exists on the driver's Metadata but is missing from its type declarations. */
interface SchemaAgreement {
  checkSchemaAgreement(): Promise<boolean>;
}

/** Waits until every live node reports the same schema version. */
export async function awaitSchemaAgreement(client: Client, timeoutMs: number): Promise<void> {
  const metadata = client.metadata as unknown as Partial<SchemaAgreement>;
  if (typeof metadata.checkSchemaAgreement !== 'function') {
    throw new Error('cassandra store: this cassandra-driver has no metadata.checkSchemaAgreement()');
  }
  const deadline = Date.now() + timeoutMs;
  while (!(await metadata.checkSchemaAgreement.call(client.metadata))) {
    if (Date.now() > deadline) throw new Error(`cassandra store: no schema agreement within ${timeoutMs} ms`);
    await sleep(POLL_MS);
  }
}

/** How many times `migrate` starts over when the schema it just saw is not there yet. */
const SCHEMA_RACE_ATTEMPTS = 10;

/**
 * Applies the keyspace and all pending migrations; returns the versions this process applied.
 *
 * When several processes create the keyspace and `schema_migrations` at the same moment, a statement
 * right after can still be told that the table does not exist, or that its id is unknown (the schema
 * change of another process is being applied on the coordinator). Every step is idempotent, so the whole run starts over then,
 * after a short pause, a bounded number of times.
 */
export async function migrate(client: Client, options: MigrateOptions): Promise<number[]> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await migrateOnce(client, options);
    } catch (err) {
      const missing = /does not exist|unconfigured table|Unknown CF/i.test((err as Error).message ?? '');
      if (!missing || attempt >= SCHEMA_RACE_ATTEMPTS) throw err;
      await awaitSchemaAgreement(client, options.timeoutMs ?? 120_000);
      await sleep(POLL_MS * attempt);
    }
  }
}

async function migrateOnce(client: Client, options: MigrateOptions): Promise<number[]> {
  const timeoutMs = options.timeoutMs ?? 120_000;
  const ks = options.keyspace;
  const host = ddlHost(client, options.localDataCenter);
  const ddl = async (cql: string): Promise<void> => {
    await client.execute(withStableTableId(cql), [], { host, isIdempotent: true });
    await awaitSchemaAgreement(client, timeoutMs);
  };

  // Skipped when present: CREATE ... IF NOT EXISTS still needs CREATE permission, which a
  // deployment whose schema is managed by an administrator may not grant.
  if (!client.metadata.keyspaces[ks]) {
    await ddl(
      `CREATE KEYSPACE IF NOT EXISTS ${ks} WITH replication = ${replicationCql(options.replication)} AND durable_writes = true`,
    );
  }
  if (!(await client.metadata.getTable(ks, 'schema_migrations'))) await ddl(migrationsTableCql(ks));

  const records = new MigrationRecords(client, ks, options.consistency);
  const applied: number[] = [];
  for (const migration of checkedMigrations(MIGRATIONS)) {
    if (await records.apply(migration, ddl, timeoutMs)) applied.push(migration.version);
  }
  return applied;
}

/**
 * Gives a `CREATE TABLE` the table id derived from its keyspace and name (`WITH ID = <uuid>`), so that
 * processes creating the same table at the same moment create the same table: with generated ids,
 * Cassandra before 5.1 can keep both creations and replace the first table's id with the second's, and
 * whoever wrote to the first then fails with "Unknown CF" (and what it wrote is gone). Other statements
 * pass unchanged.
 */
export function withStableTableId(cql: string): string {
  const m = /^CREATE TABLE IF NOT EXISTS (\w+)\.(\w+) /.exec(cql);
  if (!m) return cql;
  const hex = createHash('sha1').update(`gmessenger-table:${m[1]}.${m[2]}`).digest('hex');
  // An RFC 4122 version 5 layout of the hash.
  const variant = ((parseInt(hex[16]!, 16) & 0x3) | 0x8).toString(16);
  const id = `${hex.slice(0, 8)}-${hex.slice(8, 12)}-5${hex.slice(13, 16)}-${variant}${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
  return /\n\) WITH /.test(cql)
    ? cql.replace(/\n\) WITH /, `\n) WITH ID = ${id} AND `)
    : `${cql} WITH ID = ${id}`;
}

/** The migrations sorted by version; throws if a version is repeated or not a positive integer. */
export function checkedMigrations(migrations: readonly Migration[]): Migration[] {
  const sorted = [...migrations].sort((a, b) => a.version - b.version);
  sorted.forEach((m, i) => {
    if (!Number.isInteger(m.version) || m.version < 1)
      throw new Error(`migration "${m.name}" has a bad version`);
    if (i > 0 && sorted[i - 1]?.version === m.version)
      throw new Error(`migration version ${m.version} is repeated`);
  });
  return sorted;
}

function ddlHost(client: Client, localDataCenter: string): Host | undefined {
  const live = client.hosts
    .values()
    .filter((h) => h.isUp() && h.datacenter === localDataCenter)
    .sort((a, b) => (a.address < b.address ? -1 : a.address > b.address ? 1 : 0));
  return live[0];
}

/** Claims, progress and completion of migrations in `schema_migrations`, all through Paxos. */
class MigrationRecords {
  private readonly owner = `${os.hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
  private readonly q: ReturnType<typeof migrationQueries>;
  private readonly consistency: types.consistencies;
  private readonly serial: types.consistencies;

  constructor(
    private readonly client: Client,
    private readonly keyspace: string,
    consistency: ConsistencyName,
  ) {
    this.q = migrationQueries(keyspace);
    this.serial = serialFor(consistency);
    this.consistency = consistency.startsWith('LOCAL_')
      ? types.consistencies.localQuorum
      : types.consistencies.quorum;
  }

  /** Runs the migration unless it is applied (or gets applied by someone else meanwhile); true if this process ran it. */
  async apply(
    migration: Migration,
    ddl: (cql: string) => Promise<void>,
    timeoutMs: number,
  ): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const record = await this.read(migration.version);
      if (record?.state === 'applied') return false;
      let claimed: boolean;
      if (!record) {
        claimed = await this.cas(this.q.claim, [migration.version, migration.name, this.owner, new Date()]);
      } else if (Date.now() - record.updatedAt > STALE_CLAIM_MS) {
        claimed = await this.cas(this.q.takeOver, [this.owner, new Date(), migration.version, record.owner]);
      } else {
        if (Date.now() > deadline) {
          throw new Error(
            `cassandra store: migration ${migration.version} is still being applied by ${record.owner} after ${timeoutMs} ms`,
          );
        }
        await sleep(POLL_MS);
        continue;
      }
      if (claimed && (await this.run(migration, ddl))) return true;
    }
  }

  /** Runs the statements while holding the claim; false if the claim was lost (another process took over). */
  private async run(migration: Migration, ddl: (cql: string) => Promise<void>): Promise<boolean> {
    for (const cql of migration.statements(this.keyspace)) {
      await ddl(cql);
      const held = await this.cas(this.q.refresh, [new Date(), migration.version, this.owner]);
      if (!held) return false;
    }
    return this.cas(this.q.finish, [new Date(), migration.version, this.owner]);
  }

  /** The record as Paxos last decided it (a SERIAL read completes any in-progress proposal). */
  private async read(version: number): Promise<{ state: string; owner: string; updatedAt: number } | null> {
    const result = await this.client.execute(this.q.read, [version], {
      prepare: true,
      consistency: this.serial,
      isIdempotent: true,
    });
    const row = result.first();
    if (!row) return null;
    const updatedAt = row.get('updated_at') as unknown;
    return {
      state: String(row.get('state')),
      owner: String(row.get('owner')),
      updatedAt: updatedAt instanceof Date ? updatedAt.getTime() : 0,
    };
  }

  private async cas(cql: string, params: unknown[]): Promise<boolean> {
    const result = await this.client.execute(cql, params, {
      prepare: true,
      consistency: this.consistency,
      serialConsistency: this.serial,
      isIdempotent: false,
    });
    return result.wasApplied();
  }
}
