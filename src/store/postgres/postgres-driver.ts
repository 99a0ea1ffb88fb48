import pg from 'pg';
import { EdgeFleetError } from '../../spec/edgefleet-error.js';
import { createLogger } from '../../telemetry/logger.js';
import type { SqlDriver, SqlExecutor, SqlRow, SqlValue } from '../sql-driver.js';

export interface PostgresDriverOptions {
  /** Connections in the pool (the leadership connection is extra). */
  poolSize?: number;
  connectTimeoutMs?: number;
  /**
   * How long `close()` waits for statements still running before it cuts their connections; default
   * 2000. A statement blocked on a lock or on a network that no longer answers would otherwise hold
   * the close (and the process's exit) forever.
   */
  closeGraceMs?: number;
}

/** Default `statement_timeout` (ms): far above any statement of the store; the URL may set another. */
export const defaultStatementTimeoutMs = 60_000;
/**
 * How much longer than `statement_timeout` the client waits for an answer before it gives up on the
 * connection: PostgreSQL's own cancel normally comes first (the connection stays usable); this one
 * fires only when PostgreSQL does not answer at all (a frozen network, a hung server).
 */
export const queryTimeoutMarginMs = 5000;
/** TCP keepalive: first probe after this long without traffic. */
const keepAliveInitialDelayMs = 10_000;
/** pg's "no timeout" for one query (a per-query 0 would fall back to the connection's timeout). */
const noQueryTimeoutMs = 2 ** 31 - 1;

const log = createLogger('store.postgres');

/**
 * PostgreSQL through a `pg` pool. Leadership uses session advisory locks held on one dedicated
 * connection, so they vanish with that connection (process death, network loss) and another
 * replica can take over.
 *
 * Every connection has TCP keepalive on and a `statement_timeout` (default 60 s; `?statement_timeout=MS`
 * in the URL sets another, 0 none), and the client gives up on a statement 5 s after that timeout
 * when PostgreSQL has not answered at all. The migration run (the transaction that takes
 * `migrationLockSql`) has no timeout: a long schema change, or waiting for another replica's, is
 * legitimate. `close()` is bounded by `closeGraceMs`.
 */
export class PostgresDriver implements SqlDriver {
  readonly dialect = 'postgres' as const;
  readonly migrationLockSql = "SELECT pg_advisory_xact_lock(hashtext('edgefleet:migrations'))";
  readonly namedLockSql = 'SELECT pg_advisory_xact_lock(hashtext($1))';
  private readonly pool: pg.Pool;
  private leaderClient: pg.Client | null = null;
  private readonly heldLocks = new Set<string>();
  /** Connections not yet ended (pool, leadership, connecting ones too): what close() cuts after its grace. */
  private readonly connections = new Set<pg.Client>();
  private readonly Client: typeof pg.Client;
  private readonly timeouts: { statement_timeout: number; query_timeout?: number };

  constructor(
    private readonly url: string,
    private readonly options: PostgresDriverOptions = {},
  ) {
    const statementTimeoutMs = statementTimeoutOf(url);
    this.timeouts = {
      statement_timeout: statementTimeoutMs,
      ...(statementTimeoutMs > 0 && { query_timeout: statementTimeoutMs + queryTimeoutMarginMs }),
    };
    const connections = this.connections;
    this.Client = class TrackedClient extends pg.Client {
      constructor(config?: string | pg.ClientConfig) {
        super(config);
        connections.add(this);
        this.once('end', () => connections.delete(this));
      }
    };
    this.pool = new pg.Pool({
      Client: this.Client,
      connectionString: url,
      max: options.poolSize ?? 10,
      connectionTimeoutMillis: options.connectTimeoutMs ?? 5000,
      keepAlive: true,
      keepAliveInitialDelayMillis: keepAliveInitialDelayMs,
      ...this.timeouts,
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
    // The migration run has no timeout (see the class comment); SET LOCAL ends with the transaction.
    let queryTimeoutMs: number | undefined;
    const statement = async (sql: string, params: readonly SqlValue[] | undefined) => {
      if (broken !== undefined) throw translatePostgresError(broken);
      if (sql === this.migrationLockSql && queryTimeoutMs === undefined) {
        queryTimeoutMs = noQueryTimeoutMs;
        await runQuery(client, 'SET LOCAL statement_timeout = 0', [], queryTimeoutMs);
      }
      try {
        return await runQuery(client, sql, params ?? [], queryTimeoutMs);
      } catch (error) {
        // PostgreSQL never answered: the statement may still be running there and the connection is
        // busy with it, so it is given up (no ROLLBACK that would wait behind it; the pool drops it).
        if (isClientQueryTimeout(error)) broken ??= (error as EdgeFleetError).cause as Error;
        throw error;
      }
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

  /**
   * Ends every connection once its statement in flight has finished, waiting at most `closeGraceMs`;
   * then the connections still open are cut (their statements fail, PostgreSQL rolls back their
   * transactions and drops the leadership lock with the session).
   */
  async close(): Promise<void> {
    const leader = this.leaderClient;
    this.leaderClient = null;
    this.heldLocks.clear();
    const ended = Promise.all([
      leader?.end().catch(() => undefined),
      this.pool.end().catch(() => undefined),
    ]).then(() => true);
    const graceMs = this.options.closeGraceMs ?? 2000;
    if (await settlesWithin(ended, graceMs)) return;
    const open = [...this.connections];
    log.warn(
      { connections: open.length, graceMs },
      `PostgreSQL connections still open ${graceMs} ms after close (a statement running, no answer): cut`,
    );
    // pg's end() waits for the server to close the connection, which a frozen network never does.
    for (const client of open) client.connection.stream.destroy();
    await settlesWithin(ended, 1000);
  }

  private async leaderConnection(): Promise<pg.Client> {
    if (this.leaderClient !== null) return this.leaderClient;
    const client = new this.Client({
      connectionString: this.url,
      connectionTimeoutMillis: this.options.connectTimeoutMs ?? 5000,
      keepAlive: true,
      keepAliveInitialDelayMillis: keepAliveInitialDelayMs,
      ...this.timeouts,
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
  queryTimeoutMs?: number,
): Promise<pg.QueryResult<SqlRow>> {
  try {
    return await target.query<SqlRow>({
      text: sql,
      values: [...params],
      ...(queryTimeoutMs !== undefined && { query_timeout: queryTimeoutMs }),
    });
  } catch (error) {
    throw translatePostgresError(error);
  }
}

/** `statement_timeout` (ms) from the URL's query string, else the default; 0: none. */
function statementTimeoutOf(url: string): number {
  let raw: string | null = null;
  try {
    raw = new URL(url).searchParams.get('statement_timeout');
  } catch {
    // pg reports an unparsable URL itself
  }
  if (raw === null) return defaultStatementTimeoutMs;
  if (!/^\d+$/.test(raw)) {
    throw new EdgeFleetError(
      'invalid_argument',
      `statement_timeout in the database URL must be whole milliseconds (0: none), got "${raw}"`,
      { param: 'database' },
    );
  }
  return Number(raw);
}

/** Whether `promise` settled within `ms` (it keeps running either way). */
function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  return Promise.race([promise.then(() => true), late]).finally(() => clearTimeout(timer));
}

/** pg's own message when `query_timeout` passed without an answer. */
const clientQueryTimeoutMessage = 'Query read timeout';

function isClientQueryTimeout(error: unknown): boolean {
  const cause = error instanceof EdgeFleetError ? error.cause : error;
  return cause instanceof Error && cause.message === clientQueryTimeoutMessage;
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
  if (code === '57014') {
    // statement_timeout (or a cancel by an administrator): the statement did not finish in time.
    return new EdgeFleetError('store_unavailable', `PostgreSQL statement cancelled: ${message}`, {
      cause: error,
    });
  }
  if (code === undefined && message === clientQueryTimeoutMessage) {
    return new EdgeFleetError('store_unavailable', 'PostgreSQL did not answer within the query timeout', {
      cause: error,
    });
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
  // 28000 invalid_authorization_specification (an unknown role among them), 28P01 invalid_password.
  if (typeof code === 'string' && code.startsWith('28')) {
    return new EdgeFleetError('store_unavailable', `PostgreSQL refused the login: ${message}`, {
      cause: error,
    });
  }
  return error;
}
