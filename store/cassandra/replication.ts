/**
 * Keyspace name and replication settings of the Cassandra store, validated
 * before anything is sent to the cluster. Both end up inside DDL text (CQL
 * has no bind markers in DDL), so they are checked against strict patterns
 * here rather than escaped.
 */

/** A replication strategy as CQL's `replication` map: `class` plus per-strategy options. */
export interface Replication {
  strategy: 'SimpleStrategy' | 'NetworkTopologyStrategy';
  /** SimpleStrategy: `{replication_factor: rf}`; NetworkTopologyStrategy: `{<dc>: rf, ...}`. */
  factors: ReadonlyMap<string, number>;
}

const FORMAT = '"SimpleStrategy:<rf>" or "NetworkTopologyStrategy:<dc>=<rf>[,<dc>=<rf>]"';
/** Datacenter names as snitches report them (dc1, us-east-1, DC_2, eu-west.a). */
const DC_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
/** Unquoted CQL names are case-insensitive; requiring lower case keeps metadata lookups unambiguous. */
const KEYSPACE_RE = /^[a-z][a-z0-9_]{0,47}$/;
const MAX_RF = 99;

function fail(why: string): never {
  throw new Error(`invalid configuration: CASSANDRA_REPLICATION ${why}`);
}

function parseFactor(raw: string, where: string): number {
  if (!/^[0-9]{1,2}$/.test(raw))
    fail(`has a bad replication factor "${raw}" for ${where}; expected 1..${MAX_RF}`);
  const rf = Number(raw);
  if (rf < 1 || rf > MAX_RF)
    fail(`has a bad replication factor "${raw}" for ${where}; expected 1..${MAX_RF}`);
  return rf;
}

/**
 * Parses `SimpleStrategy:<rf>` or `NetworkTopologyStrategy:<dc>=<rf>[,<dc>=<rf>]`
 * (strategy names case-insensitive, blanks around separators ignored).
 * Throws a message naming CASSANDRA_REPLICATION for anything else.
 */
export function parseReplication(raw: string): Replication {
  const text = raw.trim();
  const colon = text.indexOf(':');
  if (colon < 0) fail(`must be ${FORMAT}, got "${raw}"`);
  const name = text.slice(0, colon).trim().toLowerCase();
  const rest = text.slice(colon + 1).trim();
  if (name === 'simplestrategy') {
    return {
      strategy: 'SimpleStrategy',
      factors: new Map([['replication_factor', parseFactor(rest, 'SimpleStrategy')]]),
    };
  }
  if (name === 'networktopologystrategy') {
    if (rest === '') fail(`must name at least one datacenter: ${FORMAT}, got "${raw}"`);
    const factors = new Map<string, number>();
    for (const part of rest.split(',')) {
      const eq = part.indexOf('=');
      if (eq < 0) fail(`has "${part.trim()}" where <dc>=<rf> was expected: ${FORMAT}`);
      const dc = part.slice(0, eq).trim();
      if (!DC_RE.test(dc)) fail(`has a bad datacenter name "${dc}" (letters, digits, _ . - only)`);
      if (factors.has(dc)) fail(`names datacenter "${dc}" twice`);
      factors.set(dc, parseFactor(part.slice(eq + 1).trim(), `datacenter "${dc}"`));
    }
    return { strategy: 'NetworkTopologyStrategy', factors };
  }
  return fail(`must be ${FORMAT}, got "${raw}"`);
}

/** The CQL map literal of a replication, e.g. `{'class': 'SimpleStrategy', 'replication_factor': '1'}`. */
export function replicationCql(replication: Replication): string {
  const entries = [`'class': '${replication.strategy}'`];
  for (const [key, rf] of replication.factors) entries.push(`'${key}': '${rf}'`);
  return `{${entries.join(', ')}}`;
}

/** Returns the keyspace name if it is a plain lower-case CQL name; throws naming CASSANDRA_KEYSPACE otherwise. */
export function checkKeyspaceName(name: string): string {
  if (!KEYSPACE_RE.test(name)) {
    throw new Error(
      `invalid configuration: CASSANDRA_KEYSPACE must be 1-48 chars of [a-z0-9_] starting with a letter, got "${name}"`,
    );
  }
  return name;
}
