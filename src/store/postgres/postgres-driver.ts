import pg from 'pg';
import { EdgeFleetError } from '../../spec/edgefleet-error.js';
import { createLogger } from '../../telemetry/logger.js';
import type { SqlDriver, SqlExecutor, SqlRow, SqlValue } from '../sql-driver.js';

export interface PostgresDriverOptions {
  /** Connections in the pool (the leadership connection is extra). */
  poolSize?: number;
  connectTimeoutMs?: number;
}

const log = createLogger('store.postgres');

/**
 * PostgreSQL through a `pg` pool. Leadership uses session advisory locks held on one dedicated
 * connection, so they vanish with that connection (process death, network loss) and another
 * replica can take over.
 */
export class PostgresDriver implements SqlDriver {
  readonly dialect = 'postgres' as const;
  readonly migrationLockSql = "SELECT pg_advisory_xact_lock(hashtext('edgefleet:migrations'))";
  private readonly pool: pg.Pool;
  private leaderClient: pg.Client | null = null;
  private readonly heldLocks = new Set<string>();

  constructor(
    private readonly url: string,
    private readonly options: PostgresDriverOptions = {},
  ) {
    this.pool = new pg.Pool({
      connectionString: url,
      max: options.poolSize ?? 10,
      connectionTimeoutMillis: options.connectTimeoutMs ?? 5000,
    });
    this.pool.on('error', (error) => {
      // pg-pool hangs the whole client on the error (`err.client`): kilobytes of its internals per line.
      delete (error as { client?: unknown }).client;
      log.warn({ err: error }, 'idle PostgreSQL connection failed');
    });
  }

  query(sql: string, params: readonly SqlValue[] = []): Promise<SqlRow[]> {
    return runQuery(this.pool, sql, params).then((result) => result.rows);
  }

  async run(sql: string, params: readonly SqlValue[] = []): Promise<number> {
    return (await runQuery(this.pool, sql, params)).rowCount ?? 0;
  }

  async transaction<T>(fn: (tx: SqlExecutor) => Promise<T>): Promise<T> {
    let client: pg.PoolClient;
    try {
      client = await this.pool.connect();
    } catch (error) {
      throw translatePostgresError(error);
    }
    // A checked-out client has no pool listener: if its connection dies while the transaction holds it
    // (the server shut down, the session terminated) it emits 'error', which unheard would end the
    // process. Heard, it fails the transaction's next statement, and the client is handed back as
    // broken so the pool discards it.
    let broken: Error | undefined;
    const onError = (error: Error) => {
      broken ??= error;
    };
    client.on('error', onError);
    const statement = async (sql: string, params: readonly SqlValue[] | undefined) => {
      if (broken !== undefined) throw translatePostgresError(broken);
      return runQuery(client, sql, params ?? []);
    };
    const tx: SqlExecutor = {
      query: async (sql, params) => (await statement(sql, params)).rows,
      run: async (sql, params) => (await statement(sql, params)).rowCount ?? 0,
    };
    try {
      await tx.run('BEGIN');
      const result = await fn(tx);
      await tx.run('COMMIT');
      return result;
    } catch (error) {
      if (broken === undefined) await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    } finally {
      client.removeListener('error', onError);
      client.release(broken);
    }
  }

  async tryAdvisoryLock(name: string): Promise<boolean> {
    if (this.heldLocks.has(name) && this.leaderClient !== null) {
      // Already ours, as long as the connection that holds it is still alive.
      const alive = await this.leaderClient.query('SELECT 1').then(
        () => true,
        () => false,
      );
      if (alive) return true;
      this.dropLeaderClient();
    }
    const client = await this.leaderConnection();
    const result = await runQuery(client, 'SELECT pg_try_advisory_lock(hashtext($1)) AS locked', [
      `edgefleet:${name}`,
    ]);
    const locked = result.rows[0]?.['locked'] === true;
    if (locked) this.heldLocks.add(name);
    return locked;
  }

  async releaseAdvisoryLock(name: string): Promise<void> {
    if (!this.heldLocks.delete(name) || this.leaderClient === null) return;
    await runQuery(this.leaderClient, 'SELECT pg_advisory_unlock(hashtext($1))', [`edgefleet:${name}`]);
  }

  async close(): Promise<void> {
    const leader = this.leaderClient;
    this.leaderClient = null;
    this.heldLocks.clear();
    if (leader !== null) await leader.end().catch(() => undefined);
    await this.pool.end();
  }

  private async leaderConnection(): Promise<pg.Client> {
    if (this.leaderClient !== null) return this.leaderClient;
    const client = new pg.Client({
      connectionString: this.url,
      connectionTimeoutMillis: this.options.connectTimeoutMs ?? 5000,
    });
    client.on('error', (error) => {
      log.warn({ err: error }, 'PostgreSQL leadership connection lost');
      if (this.leaderClient === client) this.dropLeaderClient();
    });
    try {
      await client.connect();
    } catch (error) {
      throw translatePostgresError(error);
    }
    this.leaderClient = client;
    return client;
  }

  private dropLeaderClient(): void {
    const client = this.leaderClient;
    this.leaderClient = null;
    this.heldLocks.clear();
    client?.end().catch(() => undefined);
  }
}

async function runQuery(
  target: pg.Pool | pg.PoolClient | pg.Client,
  sql: string,
  params: readonly SqlValue[],
): Promise<pg.QueryResult<SqlRow>> {
  try {
    return await target.query<SqlRow>(sql, [...params]);
  } catch (error) {
    throw translatePostgresError(error);
  }
}

const unavailableNetworkCodes = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'ENOTFOUND', 'EPIPE']);

function translatePostgresError(error: unknown): unknown {
  if (error instanceof EdgeFleetError) return error;
  const code = (error as { code?: unknown }).code;
  const message = error instanceof Error ? error.message : String(error);
  if (code === '23505') return new EdgeFleetError('conflict', `already exists: ${message}`, { cause: error });
  if (code === '23503') {
    return new EdgeFleetError('not_found', 'a referenced record does not exist', { cause: error });
  }
  const unavailable =
    (typeof code === 'string' &&
      (code.startsWith('08') ||
        code.startsWith('57P') ||
        code === '53300' ||
        code === '3D000' ||
        code === '40001' ||
        code === '40P01' ||
        unavailableNetworkCodes.has(code))) ||
    (code === undefined && /timeout|terminated|connection/i.test(message));
  if (unavailable) {
    return new EdgeFleetError('store_unavailable', `PostgreSQL unavailable: ${message}`, { cause: error });
  }
  return error;
}
