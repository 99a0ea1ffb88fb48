import { EdgeFleetError } from '../spec/edgefleet-error.js';
import { storeMigrations, type Migration } from './migrations.js';
import { PostgresDriver } from './postgres/postgres-driver.js';
import { runMigrations } from './run-migrations.js';
import type { SqlDriver } from './sql-driver.js';
import { createSqlStore } from './sql-store.js';
import { SqliteDriver } from './sqlite/sqlite-driver.js';
import type { Store } from './store.js';

export interface OpenStoreOptions {
  /** The schema steps to apply; tests pass extra ones. Defaults to the released list. */
  migrations?: readonly Migration[];
  /** PostgreSQL pool size. */
  poolSize?: number;
  /** SQLite: how long to wait on another process's write lock. */
  busyTimeoutMs?: number;
}

/**
 * Opens a store and migrates it to the newest schema.
 * - `sqlite:PATH` (`sqlite:/abs/path.db`, `sqlite:relative.db`, `sqlite::memory:`): embedded, WAL.
 * - `postgres://user@host:port/db` or `postgresql://…`: for several control-plane replicas.
 */
export async function openStore(url: string, options: OpenStoreOptions = {}): Promise<Store> {
  const driver = createDriver(url, options);
  try {
    await runMigrations(driver, options.migrations ?? storeMigrations);
  } catch (error) {
    await driver.close().catch(() => undefined);
    throw error;
  }
  return createSqlStore(driver);
}

function createDriver(url: string, options: OpenStoreOptions): SqlDriver {
  if (url.startsWith('sqlite:')) {
    const path = url.slice('sqlite:'.length).replace(/^\/\/(?=\/)/, '');
    if (path === '') throw invalidUrl(url);
    return new SqliteDriver(path, { busyTimeoutMs: options.busyTimeoutMs });
  }
  if (url.startsWith('postgres://') || url.startsWith('postgresql://')) {
    return new PostgresDriver(url, { poolSize: options.poolSize });
  }
  throw invalidUrl(url);
}

function invalidUrl(url: string): EdgeFleetError {
  return new EdgeFleetError(
    'invalid_argument',
    `unsupported database URL "${redact(url)}": use sqlite:PATH or postgres://user@host:port/database`,
    { param: 'database' },
  );
}

/** Hides a password in a URL before it reaches a message or a log. */
export function redact(url: string): string {
  return url.replace(/(\/\/[^:/@]+):[^@]*@/, '$1:***@');
}
