import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { EdgeFleetError } from '../../spec/edgefleet-error.js';
import type { SqlDriver, SqlExecutor, SqlRow, SqlValue } from '../sql-driver.js';

/** Prepared statements kept for reuse; far more than the store's fixed statements. */
export const maxCachedStatements = 256;

export interface SqliteDriverOptions {
  /** How long a writer waits for another process's lock before failing with `store_unavailable`. */
  busyTimeoutMs?: number;
}

/**
 * SQLite through better-sqlite3 (synchronous, one connection): WAL, foreign keys on, a busy timeout.
 * Because a transaction spans awaits, every statement and transaction is queued behind the open one,
 * so nothing from outside can slip into it.
 */
export class SqliteDriver implements SqlDriver {
  readonly dialect = 'sqlite' as const;
  readonly migrationLockSql = null;
  readonly namedLockSql = null;
  private readonly db: Database.Database;
  /** Prepared statements by SQL text, least recently used first (see `prepare`). */
  private readonly statements = new Map<string, Database.Statement>();
  private queue: Promise<void> = Promise.resolve();
  private readonly direct: SqlExecutor;

  constructor(path: string, options: SqliteDriverOptions = {}) {
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
    try {
      this.db = new Database(path);
      this.db.pragma('journal_mode = WAL');
      this.db.pragma('foreign_keys = ON');
      this.db.pragma(`busy_timeout = ${Math.max(0, Math.floor(options.busyTimeoutMs ?? 5000))}`);
      this.db.pragma('synchronous = NORMAL');
    } catch (error) {
      throw new EdgeFleetError('store_unavailable', `cannot open SQLite database ${path}`, {
        cause: error,
        data: { path },
      });
    }
    this.direct = {
      query: (sql, params) => Promise.resolve(this.querySync(sql, params ?? [])),
      run: (sql, params) => Promise.resolve(this.runSync(sql, params ?? [])),
    };
  }

  query(sql: string, params: readonly SqlValue[] = []): Promise<SqlRow[]> {
    return this.exclusive(async () => this.querySync(sql, params));
  }

  run(sql: string, params: readonly SqlValue[] = []): Promise<number> {
    return this.exclusive(async () => this.runSync(sql, params));
  }

  transaction<T>(fn: (tx: SqlExecutor) => Promise<T>): Promise<T> {
    return this.exclusive(async () => {
      this.runSync('BEGIN IMMEDIATE', []);
      try {
        const result = await fn(this.direct);
        this.runSync('COMMIT', []);
        return result;
      } catch (error) {
        if (this.db.inTransaction) this.db.exec('ROLLBACK');
        throw error;
      }
    });
  }

  /** One process owns an embedded database, so it always leads. */
  tryAdvisoryLock(_name: string): Promise<boolean> {
    return Promise.resolve(true);
  }

  releaseAdvisoryLock(_name: string): Promise<void> {
    return Promise.resolve();
  }

  close(): Promise<void> {
    return this.exclusive(async () => {
      if (this.db.open) this.db.close();
    });
  }

  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const result = this.queue.then(fn);
    this.queue = result.then(
      () => undefined,
      () => undefined,
    );
    return result;
  }

  private querySync(sql: string, params: readonly SqlValue[]): SqlRow[] {
    const { statement, values } = this.prepare(sql, params);
    try {
      if (statement.reader) return statement.all(...values) as SqlRow[];
      statement.run(...values);
      return [];
    } catch (error) {
      throw translateSqliteError(error);
    }
  }

  private runSync(sql: string, params: readonly SqlValue[]): number {
    const { statement, values } = this.prepare(sql, params);
    try {
      return statement.run(...values).changes;
    } catch (error) {
      throw translateSqliteError(error);
    }
  }

  /** `$n` placeholders become `?` with the values reordered (and repeated) to match. */
  private prepare(
    sql: string,
    params: readonly SqlValue[],
  ): { statement: Database.Statement; values: SqlValue[] } {
    const values: SqlValue[] = [];
    const translated = sql.replace(/\$(\d+)/g, (_match, digits: string) => {
      const index = Number(digits) - 1;
      if (index < 0 || index >= params.length) {
        throw new EdgeFleetError('internal_error', `SQL placeholder $${digits} has no value`);
      }
      values.push(params[index] ?? null);
      return '?';
    });
    let statement = this.statements.get(translated);
    if (statement === undefined) {
      try {
        statement = this.db.prepare(translated);
      } catch (error) {
        throw translateSqliteError(error);
      }
      // Some statements carry literals that change with every call (the traffic query's time range, which
      // the dashboard polls): the cache keeps the most recently used, so it cannot grow for ever.
      if (this.statements.size >= maxCachedStatements) {
        this.statements.delete(this.statements.keys().next().value!);
      }
    } else {
      this.statements.delete(translated);
    }
    this.statements.set(translated, statement);
    return { statement, values };
  }

  /** How many prepared statements are cached (at most `maxCachedStatements`). */
  get cachedStatements(): number {
    return this.statements.size;
  }
}

function translateSqliteError(error: unknown): unknown {
  if (error instanceof EdgeFleetError) return error;
  const code = (error as { code?: unknown }).code;
  const message = error instanceof Error ? error.message : String(error);
  if (typeof code !== 'string') return error;
  if (code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY') {
    return new EdgeFleetError('conflict', `already exists: ${message}`, { cause: error });
  }
  if (code === 'SQLITE_CONSTRAINT_FOREIGNKEY') {
    return new EdgeFleetError('not_found', 'a referenced record does not exist', { cause: error });
  }
  if (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED') || code === 'SQLITE_CANTOPEN') {
    return new EdgeFleetError('store_unavailable', `SQLite database unavailable: ${message}`, {
      cause: error,
    });
  }
  return error;
}
