import { credentialQueries } from './credential-queries.js';
import { deploymentQueries } from './deployment-queries.js';
import { endpointQueries } from './endpoint-queries.js';
import { fleetQueries } from './fleet-queries.js';
import type { SqlContext, SqlDriver, SqlExecutor } from './sql-driver.js';
import type { Store } from './store.js';
import { trafficQueries } from './traffic-queries.js';
import { usageQueries } from './usage-queries.js';

/**
 * The one Store implementation: plain portable SQL over a driver (SQLite or PostgreSQL), in the
 * spirit of drizzle's "one API over many databases" without an ORM. A transaction gets a Store of
 * its own bound to the transaction's connection; nested transactions join it.
 */
export function createSqlStore(driver: SqlDriver): Store {
  let closed = false;
  const root = bind(driver, {
    db: driver,
    atomically: (fn) => driver.transaction(fn),
    namedLockSql: driver.namedLockSql,
  });
  return {
    ...root,
    withTransaction: (fn) => driver.transaction((tx) => fn(transactionStore(driver, tx))),
    async close() {
      if (closed) return;
      closed = true;
      await driver.close();
    },
  };
}

function transactionStore(driver: SqlDriver, tx: SqlExecutor): Store {
  const store: Store = {
    ...bind(driver, { db: tx, atomically: (fn) => fn(tx), namedLockSql: driver.namedLockSql }),
    withTransaction: (fn) => fn(store),
    close: () => Promise.resolve(),
  };
  return store;
}

function bind(driver: SqlDriver, context: SqlContext): Omit<Store, 'withTransaction' | 'close'> {
  return {
    dialect: driver.dialect,
    ...fleetQueries(context),
    ...deploymentQueries(context),
    ...credentialQueries(context),
    ...usageQueries(context),
    ...trafficQueries(context),
    ...endpointQueries(context),
    tryAcquireLeadership: (name) => driver.tryAdvisoryLock(name),
    releaseLeadership: (name) => driver.releaseAdvisoryLock(name),
    async schemaVersion() {
      const rows = await context.db.query('SELECT MAX(version) AS version FROM schema_migrations');
      return Number(rows[0]?.['version'] ?? 0);
    },
  };
}
