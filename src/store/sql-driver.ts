import { clipped, EdgeFleetError } from '../spec/edgefleet-error.js';
import type { StoreDialect } from './store.js';

export type SqlValue = string | number | null;
export type SqlRow = Record<string, unknown>;

/**
 * What the shared SQL store needs from a database: run one statement with `$1`-style placeholders.
 * Statements use the portable subset of SQL both SQLite (≥ 3.35, for RETURNING) and PostgreSQL accept.
 * Drivers turn database errors into EdgeFleetErrors (`conflict`, `not_found`, `store_unavailable`).
 */
export interface SqlExecutor {
  /** Returns the rows the statement produced (none for statements without RETURNING). */
  query(sql: string, params?: readonly SqlValue[]): Promise<SqlRow[]>;
  /** Returns the number of rows changed. */
  run(sql: string, params?: readonly SqlValue[]): Promise<number>;
}

export interface SqlDriver extends SqlExecutor {
  readonly dialect: StoreDialect;
  /** Runs `fn` inside BEGIN … COMMIT on one connection; rolls back when it throws. */
  transaction<T>(fn: (tx: SqlExecutor) => Promise<T>): Promise<T>;
  /** A statement that, run first inside a transaction, serializes migrations across processes. */
  readonly migrationLockSql: string | null;
  /**
   * A statement that, run inside a transaction, holds the lock named by `$1` until the transaction
   * ends, across connections and processes; null where transactions are serialized already (SQLite).
   */
  readonly namedLockSql: string | null;
  tryAdvisoryLock(name: string): Promise<boolean>;
  releaseAdvisoryLock(name: string): Promise<void>;
  close(): Promise<void>;
}

/**
 * What each group of queries gets: an executor, and a way to run several statements atomically
 * (a new transaction, or the one already open when the store is a transaction's store).
 */
export interface SqlContext {
  db: SqlExecutor;
  atomically<T>(fn: (db: SqlExecutor) => Promise<T>): Promise<T>;
  /** The driver's `namedLockSql`: run it inside `atomically` to make a check and a write one step. */
  namedLockSql: string | null;
}

/**
 * Builds `col = $n, …` for the defined fields of a patch. `columns` maps patch keys to column names
 * and value encoders; placeholders start after `firstIndex - 1` already-used ones.
 */
export function buildSetClause<P extends object>(
  patch: P,
  columns: {
    [K in keyof P]-?: readonly [column: string, encode: (value: NonNullable<P[K]> | null) => SqlValue];
  },
  firstIndex: number,
): { sql: string[]; params: SqlValue[] } {
  const sql: string[] = [];
  const params: SqlValue[] = [];
  for (const key of Object.keys(columns) as (keyof P)[]) {
    const value = patch[key];
    if (value === undefined) continue;
    const [column, encode] = columns[key];
    params.push(encode(value as NonNullable<P[typeof key]> | null));
    sql.push(`${column} = $${firstIndex + params.length - 1}`);
  }
  return { sql, params };
}

export const same = <T extends SqlValue>(value: T | null): SqlValue => value;
export const asJson = (value: unknown): SqlValue => JSON.stringify(value);

export function notFound(kind: string, id: string): EdgeFleetError {
  return new EdgeFleetError('not_found', `${kind} ${clipped(id)} does not exist`, { data: { kind, id } });
}
