/**
 * The one place the Cassandra adapters talk to the driver. Every statement is
 * prepared and runs at the configured consistency; reads and plain writes are
 * marked idempotent (the driver may retry them on another coordinator or
 * after a timeout), conditional statements (LWT) are not. Each port call goes
 * through `op`, which records its latency in `storeSeconds{op}` and lets
 * `close` wait for calls still in flight.
 */
import { types, type Client, type QueryOptions } from 'cassandra-driver';
import { storeSeconds } from '../../common/metrics.js';

/** Consistency levels the configuration may name (CASSANDRA_CONSISTENCY). */
export type ConsistencyName = 'ONE' | 'LOCAL_ONE' | 'QUORUM' | 'LOCAL_QUORUM' | 'ALL';

const CONSISTENCY: Record<ConsistencyName, types.consistencies> = {
  ONE: types.consistencies.one,
  LOCAL_ONE: types.consistencies.localOne,
  QUORUM: types.consistencies.quorum,
  LOCAL_QUORUM: types.consistencies.localQuorum,
  ALL: types.consistencies.all,
};

/** Whether a string is one of the consistency levels the store accepts. */
export function isConsistencyName(value: string): value is ConsistencyName {
  return Object.prototype.hasOwnProperty.call(CONSISTENCY, value);
}

/** Paxos consistency for conditional statements: LOCAL_SERIAL when the configured level is datacenter-local. */
export function serialFor(consistency: ConsistencyName): types.consistencies {
  return consistency.startsWith('LOCAL_') ? types.consistencies.localSerial : types.consistencies.serial;
}

export type Params = unknown[];

/** A statement with its values, for batches. */
export interface Statement {
  query: string;
  params: Params;
}

/** Options of a plain write. */
export interface WriteOptions {
  /** The write timestamp in microseconds (the fence-derived timestamps of the messages adapter). */
  timestamp?: types.Long;
}

/** Rows per page when a read walks a whole partition. */
const PAGE_SIZE = 1000;

export class CqlSession {
  private readonly base: QueryOptions;
  private readonly pending = new Set<Promise<unknown>>();
  private closed = false;

  constructor(
    private readonly client: Client,
    consistency: ConsistencyName,
  ) {
    this.base = {
      prepare: true,
      consistency: CONSISTENCY[consistency],
      serialConsistency: serialFor(consistency),
    };
  }

  /** Runs one port call: timed under `op`, refused after close, awaited by close. */
  op<T>(op: string, fn: () => Promise<T>): Promise<T> {
    if (this.closed) return Promise.reject(new Error('store is closed'));
    const end = storeSeconds.startTimer({ op });
    const call = fn().finally(() => {
      end();
      this.pending.delete(call);
    });
    this.pending.add(call);
    return call;
  }

  /** A read; safe to retry. */
  read(query: string, params: Params, options: QueryOptions = {}): Promise<types.ResultSet> {
    return this.client.execute(query, params, { ...this.base, isIdempotent: true, ...options });
  }

  /** The first row of a read, or null; `serial` reads through Paxos (sees every committed LWT, completes one in progress). */
  async first(query: string, params: Params, options: { serial?: boolean } = {}): Promise<types.Row | null> {
    const result = await this.read(
      query,
      params,
      options.serial ? { consistency: this.base.serialConsistency } : {},
    );
    return result.first() ?? null;
  }

  /** Every row of a read, fetched page by page as the caller iterates (stops fetching when it stops). */
  async *rows(query: string, params: Params): AsyncGenerator<types.Row> {
    let pageState: string | undefined;
    do {
      const result = await this.read(query, params, { fetchSize: PAGE_SIZE, autoPage: false, pageState });
      yield* result.rows;
      pageState = result.pageState || undefined;
    } while (pageState);
  }

  /** Every row of a read, all pages. */
  async all(query: string, params: Params): Promise<types.Row[]> {
    const out: types.Row[] = [];
    for await (const row of this.rows(query, params)) out.push(row);
    return out;
  }

  /** A plain INSERT/UPDATE/DELETE with fixed values (and a fixed `timestamp` when given); safe to retry. */
  async write(query: string, params: Params, options: WriteOptions = {}): Promise<void> {
    await this.client.execute(query, params, { ...this.base, isIdempotent: true, ...options });
  }

  /**
   * Statements of ONE partition as an unlogged batch: one mutation, applied
   * atomically and in isolation on each replica, without the batchlog that
   * only multi-partition batches need. Safe to retry (fixed values).
   */
  async partitionBatch(statements: readonly Statement[], options: WriteOptions = {}): Promise<void> {
    const [only] = statements;
    if (!only) return;
    if (statements.length === 1) return this.write(only.query, only.params, options);
    await this.client.batch([...statements], { ...this.base, logged: false, isIdempotent: true, ...options });
  }

  /** A conditional statement (LWT). Never retried by the driver: a retry could observe its own first attempt. */
  conditional(query: string, params: Params): Promise<types.ResultSet> {
    return this.client.execute(query, params, { ...this.base, isIdempotent: false });
  }

  /** Refuses new calls, waits for the ones in flight, then shuts the driver down. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.allSettled([...this.pending]);
    await this.client.shutdown();
  }
}

// Row decoders: a value of an unexpected type means the schema and the code disagree, so they throw.

function column(row: types.Row, name: string): unknown {
  return row.get(name) as unknown;
}

function mismatch(name: string, expected: string, value: unknown): Error {
  return new Error(`cassandra store: column ${name} holds ${typeof value} where ${expected} was expected`);
}

/** A text column that must be set. */
export function text(row: types.Row, name: string): string {
  const value = column(row, name);
  if (typeof value !== 'string') throw mismatch(name, 'text', value);
  return value;
}

/** A text column, null when unset. */
export function optText(row: types.Row, name: string): string | null {
  const value = column(row, name);
  return value === null || value === undefined ? null : text(row, name);
}

/** An int or bigint column as a JS number (ids stay far below 2^53). */
export function num(row: types.Row, name: string): number {
  const value = column(row, name);
  if (typeof value === 'number') return value;
  if (types.Long.isLong(value)) return value.toNumber();
  if (typeof value === 'bigint') return Number(value);
  throw mismatch(name, 'a number', value);
}

/** An int or bigint column, null when unset. */
export function optNum(row: types.Row, name: string): number | null {
  const value = column(row, name);
  return value === null || value === undefined ? null : num(row, name);
}

/** A timestamp column as milliseconds since the epoch. */
export function millis(row: types.Row, name: string): number {
  const value = column(row, name);
  if (value instanceof Date) return value.getTime();
  throw mismatch(name, 'timestamp', value);
}

/** A timestamp column as milliseconds, null when unset. */
export function optMillis(row: types.Row, name: string): number | null {
  const value = column(row, name);
  return value === null || value === undefined ? null : millis(row, name);
}

/** A boolean column that must be set. */
export function bool(row: types.Row, name: string): boolean {
  const value = column(row, name);
  if (typeof value !== 'boolean') throw mismatch(name, 'boolean', value);
  return value;
}

/** A blob column that must be set. */
export function blob(row: types.Row, name: string): Buffer {
  const value = column(row, name);
  if (!Buffer.isBuffer(value)) throw mismatch(name, 'blob', value);
  return value;
}
