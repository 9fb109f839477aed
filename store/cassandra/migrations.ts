/**
 * The Cassandra schema, as numbered migrations applied in order at start
 * (see migrate.ts). Tables are query-first: each serves one read of the ports,
 * and writes fan out to every table a record appears in. Kept as TypeScript
 * constants so the build ships them with the code. Version 1 stays within what
 * stock Cassandra 4.0 accepts; the project runs and tests on 5.0.
 *
 * Users
 * - `users` (login): the record; registration is `INSERT ... IF NOT EXISTS`.
 * - `users_by_name` ((bucket), username, login): the listing ordered by
 *   (username, login). bucket = first 2 bytes of the username's UTF-8, so a
 *   partition holds the users of one name prefix (for Latin names, two
 *   letters) instead of everyone, and byte order of buckets followed by
 *   clustering order inside each is the global order (layout.ts).
 * - `user_name_buckets` ((shard), bucket): the directory of non-empty listing
 *   buckets (at most 65 792 tiny rows; shard is always 0).
 * - `user_prefixes` ((prefix), login): one row per prefix (1..8 code points)
 *   of the lower-cased login and username, so a prefix search is one
 *   partition read in login order. Stock 4.0 has no SAI and SASI is disabled
 *   by default, hence the explicit index. The widest partitions are the
 *   one-character prefixes, roughly 1/30 of all users each.
 *
 * Groups
 * - `groups` (id); `group_members` ((group_id), login) ordered by login;
 *   `groups_by_member` ((login), group_id); `public_groups` ((shard), id) with
 *   shard = hash(id) mod 8, read in parallel.
 *
 * Chats
 * - `messages` ((chat_id, bucket), id DESC) with bucket = floor(id / 10000):
 *   no partition grows past 10 000 messages; newest-first clustering serves
 *   the common "latest page" read without a reversed scan.
 * - `chat_state` (chat_id): last id, preview and time. Written after the
 *   messages of an append, so it is the append's commit point.
 * - `marks` ((chat_id), login) and `marks_by_user` ((login), chat_id): the
 *   same delivered/read ids, one table per read path.
 * - `dialogs_by_user` ((login), chat_id): dialogs that have a message.
 *
 * Version 2 adds `chat_state.fence`, the chat writer's fencing token (see
 * message-store.cassandra.ts). Migrations from version 2 on use Cassandra 5.0
 * syntax (`ALTER TABLE ... ADD IF NOT EXISTS`).
 */

/** A schema step. Versions are positive, unique and never renumbered once shipped. */
export interface Migration {
  version: number;
  name: string;
  /** Idempotent DDL (`IF NOT EXISTS`), run in order. `keyspace` is validated before it is interpolated. */
  statements(keyspace: string): string[];
}

/** The table that records applied migrations; created before any migration runs. */
export function migrationsTableCql(keyspace: string): string {
  return `CREATE TABLE IF NOT EXISTS ${keyspace}.schema_migrations (
  version int PRIMARY KEY,
  name text,
  state text,
  owner text,
  updated_at timestamp
)`;
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'initial schema',
    statements: (ks) => [
      `CREATE TABLE IF NOT EXISTS ${ks}.users (
  login text PRIMARY KEY,
  username text,
  password_hash text,
  created_at timestamp
)`,
      `CREATE TABLE IF NOT EXISTS ${ks}.users_by_name (
  bucket blob,
  username text,
  login text,
  PRIMARY KEY ((bucket), username, login)
)`,
      `CREATE TABLE IF NOT EXISTS ${ks}.user_name_buckets (
  shard int,
  bucket blob,
  PRIMARY KEY ((shard), bucket)
)`,
      `CREATE TABLE IF NOT EXISTS ${ks}.user_prefixes (
  prefix text,
  login text,
  username text,
  PRIMARY KEY ((prefix), login)
)`,
      `CREATE TABLE IF NOT EXISTS ${ks}.groups (
  id text PRIMARY KEY,
  name text,
  is_public boolean,
  owner text,
  created_at timestamp
)`,
      `CREATE TABLE IF NOT EXISTS ${ks}.group_members (
  group_id text,
  login text,
  role text,
  PRIMARY KEY ((group_id), login)
)`,
      `CREATE TABLE IF NOT EXISTS ${ks}.groups_by_member (
  login text,
  group_id text,
  role text,
  PRIMARY KEY ((login), group_id)
)`,
      `CREATE TABLE IF NOT EXISTS ${ks}.public_groups (
  shard int,
  id text,
  name text,
  owner text,
  created_at timestamp,
  PRIMARY KEY ((shard), id)
)`,
      `CREATE TABLE IF NOT EXISTS ${ks}.messages (
  chat_id text,
  bucket int,
  id bigint,
  sender text,
  body text,
  sent_at timestamp,
  client_id text,
  PRIMARY KEY ((chat_id, bucket), id)
) WITH CLUSTERING ORDER BY (id DESC)`,
      `CREATE TABLE IF NOT EXISTS ${ks}.chat_state (
  chat_id text PRIMARY KEY,
  last_id bigint,
  last_sender text,
  last_body text,
  last_sent_at timestamp
)`,
      `CREATE TABLE IF NOT EXISTS ${ks}.marks (
  chat_id text,
  login text,
  delivered_id bigint,
  read_id bigint,
  PRIMARY KEY ((chat_id), login)
)`,
      `CREATE TABLE IF NOT EXISTS ${ks}.marks_by_user (
  login text,
  chat_id text,
  delivered_id bigint,
  read_id bigint,
  PRIMARY KEY ((login), chat_id)
)`,
      `CREATE TABLE IF NOT EXISTS ${ks}.dialogs_by_user (
  login text,
  chat_id text,
  PRIMARY KEY ((login), chat_id)
)`,
    ],
  },
  {
    version: 2,
    name: 'chat writer fence',
    statements: (ks) => [`ALTER TABLE ${ks}.chat_state ADD IF NOT EXISTS fence bigint`],
  },
];
