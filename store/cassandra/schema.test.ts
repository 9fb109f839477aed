/**
 * Cross-checks every CQL statement of the Cassandra adapters against the
 * schema the migrations create, without a cluster: columns exist, INSERTs
 * name the whole primary key, SELECTs restrict the whole partition key and
 * slice clustering columns the way CQL allows (EQ prefix, then one range or
 * a tuple range; IN only on the last primary key column; ORDER BY on the first
 * clustering column), UPDATE/DELETE address one row, and no identifier is a
 * reserved CQL keyword. CQL 4.0 compatibility of the DDL is checked by what it
 * may not contain (SAI/SASI indexes, vectors, 5.0-only table options).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { groupQueries } from '../group-store.cassandra.js';
import { messageQueries } from '../message-store.cassandra.js';
import { userQueries } from '../user-store.cassandra.js';
import { migrationQueries } from './migrate.js';
import { MIGRATIONS, migrationsTableCql } from './migrations.js';

/** Reserved keywords of CQL 4.0 through 5.x (reserved_keywords.txt), which may not name a table or column. */
const RESERVED = new Set(
  `ADD ALLOW ALTER AND APPLY ASC AUTHORIZE BATCH BEGIN BY CHECK COLUMNFAMILY CONSTRAINT CREATE DELETE DESC DESCRIBE
   DROP ENTRIES EXECUTE FROM FULL GRANT IF IN INDEX INFINITY INSERT INTO IS KEYSPACE LENGTH LIMIT MATERIALIZED MODIFY
   NAN NORECURSIVE NOT NULL OF ON OR ORDER PRIMARY RENAME REPLACE REVOKE SCHEMA SELECT SET TABLE TO TOKEN TRUNCATE
   UNLOGGED UPDATE USE USING VIEW WHERE WITH`.split(/\s+/),
);
const TYPES = new Set(['text', 'int', 'bigint', 'timestamp', 'boolean', 'blob']);
const KS = 'ks';

interface Table {
  columns: Map<string, string>;
  partition: string[];
  clustering: string[];
}

function list(s: string): string[] {
  return s.split(',').map((x) => x.trim());
}

function parseTable(cql: string): [string, Table] {
  const m =
    /^CREATE TABLE IF NOT EXISTS ks\.(\w+) \(\n([\s\S]*)\n\)(?: WITH CLUSTERING ORDER BY \((\w+) (ASC|DESC)\))?$/.exec(
      cql,
    );
  assert.ok(m, `unexpected DDL shape: ${cql}`);
  const [, name, body, orderColumn] = m;
  const table: Table = { columns: new Map(), partition: [], clustering: [] };
  for (const raw of body!.split('\n')) {
    const line = raw.trim().replace(/,$/, '');
    const pk = /^PRIMARY KEY \(\(([\w, ]+)\)(?:, ([\w, ]+))?\)$/.exec(line);
    if (pk) {
      table.partition = list(pk[1]!);
      table.clustering = pk[2] ? list(pk[2]) : [];
      continue;
    }
    const col = /^(\w+) (\w+)( PRIMARY KEY)?$/.exec(line);
    assert.ok(col, `unexpected column definition "${line}" in ${name}`);
    assert.ok(TYPES.has(col[2]!), `type ${col[2]} of ${name}.${col[1]}`);
    table.columns.set(col[1]!, col[2]!);
    if (col[3]) table.partition = [col[1]!];
  }
  assert.ok(table.partition.length > 0, `${name} has a primary key`);
  for (const k of [...table.partition, ...table.clustering])
    assert.ok(table.columns.has(k), `${name} key ${k}`);
  if (orderColumn)
    assert.equal(
      orderColumn,
      table.clustering[0],
      `${name} clustering order names its first clustering column`,
    );
  return [name!, table];
}

const ALTER_ADD = /^ALTER TABLE ks\.(\w+) ADD IF NOT EXISTS (\w+) (\w+)$/;
const allDdl = [migrationsTableCql(KS), ...MIGRATIONS.flatMap((m) => m.statements(KS))];
const migrationDdl = allDdl.filter((cql) => !ALTER_ADD.test(cql));
const alterDdl = allDdl.filter((cql) => ALTER_ADD.test(cql));
const schema = new Map(migrationDdl.map(parseTable));
for (const cql of alterDdl) {
  const [, name, column, type] = ALTER_ADD.exec(cql)!;
  const table = schema.get(name!);
  assert.ok(table, `${cql}: table ${name} exists`);
  assert.ok(TYPES.has(type!), `type ${type} of ${name}.${column}`);
  assert.ok(!table.columns.has(column!), `${name}.${column} is added once`);
  table.columns.set(column!, type!);
}

function tableOf(name: string): Table {
  const table = schema.get(name);
  assert.ok(table, `table ${name} exists`);
  return table;
}

function assertColumns(table: string, columns: string[]): void {
  for (const c of columns) assert.ok(tableOf(table).columns.has(c), `column ${table}.${c} exists`);
}

type Restriction = { columns: string[]; op: string };

function parseWhere(where: string): Restriction[] {
  return where.split(' AND ').map((cond) => {
    const tuple = /^\(([\w, ]+)\) (>=|<=|>|<) \(([?, ]+)\)$/.exec(cond);
    if (tuple) {
      assert.equal(list(tuple[1]!).length, list(tuple[3]!).length, `tuple arity in ${cond}`);
      return { columns: list(tuple[1]!), op: tuple[2]! };
    }
    const single = /^(\w+) (=|>=|<=|>|<|IN) (\?|'[\w-]*'|\d+)$/.exec(cond);
    assert.ok(single, `unexpected condition "${cond}"`);
    if (single[2] === 'IN') assert.equal(single[3], '?', 'IN binds one list marker');
    return { columns: [single[1]!], op: single[2]! };
  });
}

/** Whether the restrictions select a contiguous slice of one partition (or one row when `row`). */
function checkRestrictions(name: string, where: string, row: boolean): void {
  const table = tableOf(name);
  const key = [...table.partition, ...table.clustering];
  const rs = parseWhere(where);
  for (const r of rs) assertColumns(name, r.columns);
  const on = (c: string) => rs.filter((r) => r.columns[0] === c);
  for (const [i, c] of table.partition.entries()) {
    const found = on(c);
    assert.equal(found.length, 1, `${name}: partition key ${c} restricted once in "${where}"`);
    const op = found[0]!.op;
    const lastPartition = i === table.partition.length - 1;
    assert.ok(op === '=' || (op === 'IN' && lastPartition), `${name}: ${c} ${op}`);
  }
  for (const [i, c] of table.clustering.entries()) {
    const found = on(c);
    const inTuple = rs.some((r) => r.columns.length > 1 && r.columns.includes(c));
    if (found.length === 0 && !inTuple) {
      assert.ok(!row, `${name}: ${c} restricted to address one row`);
      for (const later of table.clustering.slice(i + 1))
        assert.equal(on(later).length, 0, `${name}: ${later} after unrestricted ${c}`);
      break;
    }
    if (inTuple) {
      const tuple = rs.find((r) => r.columns.includes(c))!;
      assert.deepEqual(
        tuple.columns,
        table.clustering.slice(i, i + tuple.columns.length),
        `${name}: tuple order`,
      );
      assert.ok(!row, `${name}: a tuple slice does not address one row`);
      break;
    }
    const ops = found.map((r) => r.op);
    if (ops.length === 1 && ops[0] === '=') continue;
    if (ops.length === 1 && ops[0] === 'IN') {
      assert.equal(c, key[key.length - 1], `${name}: IN only on the last primary key column`);
      continue;
    }
    assert.ok(!row, `${name}: ${c} must be an equality`);
    assert.ok(
      ops.every((op) => ['>', '>=', '<', '<='].includes(op)) && ops.length <= 2,
      `${name}: ${c} ${ops}`,
    );
    for (const later of table.clustering.slice(i + 1))
      assert.equal(on(later).length, 0, `${name}: ${later} after a range`);
    break;
  }
  for (const r of rs) assert.ok(key.includes(r.columns[0]!), `${name}: ${r.columns[0]} is a key column`);
}

function checkStatement(cql: string): void {
  let m = /^SELECT ([\w, ]+) FROM ks\.(\w+) WHERE (.+?)(?: ORDER BY (\w+) (ASC|DESC))?(?: LIMIT \?)?$/.exec(
    cql,
  );
  if (m) {
    const [, columns, table, where, orderBy] = m;
    assertColumns(table!, list(columns!));
    checkRestrictions(table!, where!, false);
    if (orderBy)
      assert.equal(orderBy, tableOf(table!).clustering[0], `ORDER BY the first clustering column: ${cql}`);
    return;
  }
  m = /^INSERT INTO ks\.(\w+) \(([\w, ]+)\) VALUES \(([^)]*)\)( IF NOT EXISTS)?$/.exec(cql);
  if (m) {
    const [, table, columns, values] = m;
    const names = list(columns!);
    assertColumns(table!, names);
    assert.equal(names.length, list(values!).length, `one value per column: ${cql}`);
    assert.equal(new Set(names).size, names.length);
    const t = tableOf(table!);
    for (const k of [...t.partition, ...t.clustering])
      assert.ok(names.includes(k), `INSERT names key ${k}: ${cql}`);
    return;
  }
  m = /^UPDATE ks\.(\w+) SET (.+?) WHERE (.+?)(?: IF (.+))?$/.exec(cql);
  if (m) {
    const [, table, assignments, where, conditions] = m;
    const t = tableOf(table!);
    for (const a of list(assignments!)) {
      const col = /^(\w+) = (\?|'[\w-]*')$/.exec(a);
      assert.ok(col, `assignment ${a}`);
      assertColumns(table!, [col[1]!]);
      assert.ok(![...t.partition, ...t.clustering].includes(col[1]!), `SET on a non-key column: ${cql}`);
    }
    checkRestrictions(table!, where!, true);
    if (conditions) for (const r of parseWhere(conditions)) assertColumns(table!, r.columns);
    return;
  }
  m = /^DELETE FROM ks\.(\w+) WHERE (.+)$/.exec(cql);
  if (m) {
    checkRestrictions(m[1]!, m[2]!, true);
    return;
  }
  assert.fail(`unrecognised statement: ${cql}`);
}

const statements = {
  users: userQueries(KS),
  groups: groupQueries(KS),
  messages: messageQueries(KS),
  migrations: migrationQueries(KS),
};

describe('cassandra schema', () => {
  it('has unique, ordered migrations of idempotent CREATE TABLE and ALTER TABLE ADD statements', () => {
    const versions = MIGRATIONS.map((m) => m.version);
    assert.deepEqual(
      versions,
      [...versions].sort((a, b) => a - b),
    );
    assert.equal(new Set(versions).size, versions.length);
    for (const cql of migrationDdl) assert.match(cql, /^CREATE TABLE IF NOT EXISTS ks\.\w+ \(/);
    assert.ok(
      MIGRATIONS.find((m) => m.version === 1)!
        .statements(KS)
        .every((cql) => !ALTER_ADD.test(cql)),
      'version 1 only creates tables',
    );
    assert.equal(schema.size, migrationDdl.length, 'each table is created once');
  });

  it('uses no index that needs configuration, and nothing newer than Cassandra 4.0 in version 1', () => {
    for (const cql of allDdl) {
      assert.doesNotMatch(
        cql,
        /\b(INDEX|CUSTOM|SAI|SASI|StorageAttachedIndex|vector|MATERIALIZED|MASKED)\b/i,
      );
    }
  });

  it('names no table or column with a reserved keyword', () => {
    for (const [name, table] of schema) {
      assert.ok(!RESERVED.has(name.toUpperCase()), name);
      for (const c of table.columns.keys()) assert.ok(!RESERVED.has(c.toUpperCase()), `${name}.${c}`);
    }
  });

  for (const [family, queries] of Object.entries(statements)) {
    it(`${family}: every statement fits the schema`, () => {
      for (const [name, cql] of Object.entries(queries)) {
        assert.doesNotThrow(() => checkStatement(cql), `${family}.${name}: ${cql}`);
      }
    });
  }

  it('rejects statements that do not fit (the checker itself)', () => {
    const wrong = [
      'SELECT nope FROM ks.users WHERE login = ?',
      'SELECT id FROM ks.messages WHERE chat_id = ? AND id > ?',
      'SELECT id FROM ks.messages WHERE chat_id = ? AND bucket = ? ORDER BY sender ASC',
      'SELECT username FROM ks.users_by_name WHERE bucket = ? AND login > ?',
      'SELECT login FROM ks.marks WHERE login = ?',
      'INSERT INTO ks.marks (chat_id, delivered_id) VALUES (?, ?)',
      'DELETE FROM ks.group_members WHERE group_id = ?',
      'UPDATE ks.chat_state SET chat_id = ? WHERE chat_id = ?',
    ];
    for (const cql of wrong) assert.throws(() => checkStatement(cql), cql);
  });
});
