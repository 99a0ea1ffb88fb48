import { EdgeFleetError } from '../spec/edgefleet-error.js';
import type { Migration } from './migrations.js';
import type { SqlDriver } from './sql-driver.js';

/**
 * Brings the database up to the newest migration, in one transaction (PostgreSQL: under an advisory
 * lock, so replicas starting together migrate once). Running it again changes nothing. A database
 * newer than this code is refused with `store_schema_too_new`. Returns the resulting version.
 */
export async function runMigrations(
  driver: SqlDriver,
  migrations: readonly Migration[],
  nowMs: number = Date.now(),
): Promise<number> {
  const ordered = [...migrations].sort((a, b) => a.version - b.version);
  ordered.forEach((migration, position) => {
    if (migration.version !== position + 1) {
      throw new EdgeFleetError(
        'internal_error',
        `migrations must be numbered 1, 2, 3…; found ${migration.version}`,
      );
    }
  });
  const latest = ordered.length;
  return driver.transaction(async (tx) => {
    if (driver.migrationLockSql !== null) await tx.query(driver.migrationLockSql);
    await tx.run(
      `CREATE TABLE IF NOT EXISTS schema_migrations (
        version INTEGER PRIMARY KEY,
        name TEXT NOT NULL,
        applied_at_ms BIGINT NOT NULL
      )`,
    );
    const rows = await tx.query('SELECT MAX(version) AS version FROM schema_migrations');
    const current = Number(rows[0]?.['version'] ?? 0);
    if (current > latest) {
      throw new EdgeFleetError(
        'store_schema_too_new',
        `the database is at schema version ${current} but this EdgeFleet knows only up to ${latest}; ` +
          'upgrade EdgeFleet (downgrading a database is not supported)',
        { data: { databaseVersion: current, codeVersion: latest } },
      );
    }
    for (const migration of ordered.slice(current)) {
      for (const statement of migration.statements) await tx.run(statement);
      await tx.run('INSERT INTO schema_migrations (version, name, applied_at_ms) VALUES ($1, $2, $3)', [
        migration.version,
        migration.name,
        nowMs,
      ]);
    }
    return Math.max(current, latest);
  });
}
