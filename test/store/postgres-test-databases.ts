import { randomBytes } from 'node:crypto';
import pg from 'pg';

/**
 * Creates throwaway databases `edgefleet_test_<run>_<n>` on the test PostgreSQL server and drops
 * them all at the end. The server is 127.0.0.1:5432 unless EDGEFLEET_TEST_POSTGRES_URL names
 * another maintenance database. An unreachable server is an error, never a skip: CI starts it.
 */
export class PostgresTestDatabases {
  readonly adminUrl =
    process.env['EDGEFLEET_TEST_POSTGRES_URL'] ?? 'postgres://postgres@127.0.0.1:5432/postgres';
  private readonly run = randomBytes(4).toString('hex');
  private readonly created: string[] = [];
  private admin: pg.Client | null = null;

  async connect(): Promise<void> {
    const client = new pg.Client({ connectionString: this.adminUrl, connectionTimeoutMillis: 5000 });
    try {
      await client.connect();
    } catch (error) {
      await client.end().catch(() => undefined);
      throw new Error(
        `PostgreSQL is not reachable at ${this.adminUrl} (${String(error)}). The PostgreSQL store contract ` +
          'tests need it: start it with `pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start` ' +
          'or set EDGEFLEET_TEST_POSTGRES_URL.',
        { cause: error },
      );
    }
    this.admin = client;
  }

  async fresh(): Promise<string> {
    if (this.admin === null)
      throw new Error('PostgreSQL test databases: connect() first (see the error above)');
    const name = `edgefleet_test_${this.run}_${this.created.length + 1}`;
    await this.admin.query(`CREATE DATABASE ${name}`);
    this.created.push(name);
    const url = new URL(this.adminUrl);
    url.pathname = `/${name}`;
    return url.toString();
  }

  /** Terminates every session holding an advisory lock in the database at `url`; returns how many. */
  async terminateAdvisoryLockHolders(url: string): Promise<number> {
    if (this.admin === null) throw new Error('PostgreSQL test databases: connect() first');
    const result = await this.admin.query(
      `SELECT pg_terminate_backend(l.pid) AS terminated FROM pg_locks l
       JOIN pg_database d ON d.oid = l.database
       WHERE l.locktype = 'advisory' AND l.granted AND d.datname = $1`,
      [new URL(url).pathname.slice(1)],
    );
    return result.rows.length;
  }

  /**
   * Terminates every session connected to the database at `url` (as a server shutdown would) and
   * waits until they have gone; returns how many there were.
   */
  async terminateSessions(url: string): Promise<number> {
    if (this.admin === null) throw new Error('PostgreSQL test databases: connect() first');
    const name = new URL(url).pathname.slice(1);
    const result = await this.admin.query(
      'SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()',
      [name],
    );
    for (const deadline = Date.now() + 5000; ;) {
      const left = await this.admin.query(
        'SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1',
        [name],
      );
      if (left.rows[0].n === 0) break;
      if (Date.now() > deadline)
        throw new Error(`sessions of ${name} still there 5 s after pg_terminate_backend`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    return result.rows.length;
  }

  async dropAll(): Promise<void> {
    const admin = this.admin;
    if (admin === null) return;
    for (const name of this.created.splice(0)) {
      await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    }
    await admin.end();
    this.admin = null;
  }
}
