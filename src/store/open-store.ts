import { EdgeFleetError } from '../spec/edgefleet-error.js';
import { redact } from '../telemetry/redact-url.js';
import { storeMigrations, type Migration } from './migrations.js';
import { runMigrations } from './run-migrations.js';
import type { SqlDriver } from './sql-driver.js';
import { createSqlStore } from './sql-store.js';
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
  const driver = await createDriver(url, options);
  try {
    await runMigrations(driver, options.migrations ?? storeMigrations);
  } catch (error) {
    await driver.close().catch(() => undefined);
    throw error;
  }
  return createSqlStore(driver);
}

/** The driver of the URL's database, loaded only when used (each pulls in its client library). */
async function createDriver(url: string, options: OpenStoreOptions): Promise<SqlDriver> {
  if (url.startsWith('sqlite:')) {
    const path = url.slice('sqlite:'.length).replace(/^\/\/(?=\/)/, '');
    if (path === '') throw invalidUrl(url);
    const { SqliteDriver } = await import('./sqlite/sqlite-driver.js');
    return new SqliteDriver(path, { busyTimeoutMs: options.busyTimeoutMs });
  }
  if (url.startsWith('postgres://') || url.startsWith('postgresql://')) {
    const { PostgresDriver } = await import('./postgres/postgres-driver.js');
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
