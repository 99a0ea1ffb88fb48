import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type FleetServer } from '../fleet/fleet-processes.js';
import { PostgresTestDatabases } from '../store/postgres-test-databases.js';

/**
 * SIGTERM must stop `edgefleet server` in bounded time even when its PostgreSQL stalls. Here another
 * session holds `LOCK TABLE endpoints IN ACCESS EXCLUSIVE MODE`, so the endpoint prober's next check
 * (every 5 s) blocks in the store. The server used to wait for it, and then for the pool to end, until
 * the lock went away; now it gives up after its shutdown deadline (`--shutdown-timeout-ms`, 3 s here,
 * default 10 s), says what was still pending and exits 1.
 */
/** Sessions of the database at `url` waiting on a lock now. */
async function lockWaiters(url: string): Promise<number> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query(
      "SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'",
    );
    return (rows[0] as { n: number }).n;
  } finally {
    await client.end();
  }
}

describe('edgefleet server shutdown with a stalled PostgreSQL', () => {
  const databases = new PostgresTestDatabases();
  const servers: FleetServer[] = [];
  const lockers: pg.Client[] = [];
  const dirs: string[] = [];

  beforeAll(() => databases.connect());
  afterAll(async () => {
    for (const locker of lockers) await locker.end().catch(() => undefined);
    for (const server of servers) await server.stop('SIGKILL');
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
    await databases.dropAll();
  });

  it('exits 1 within the shutdown deadline while a lock held elsewhere blocks the store', async () => {
    const url = await databases.fresh();
    const home = await mkdtemp(join(tmpdir(), 'ef-shutdown-'));
    dirs.push(home);
    const server = await startServer(home, ['--database', url, '--shutdown-timeout-ms', '3000']);
    servers.push(server);

    const locker = new pg.Client({ connectionString: url });
    lockers.push(locker);
    await locker.connect();
    await locker.query('BEGIN');
    await locker.query('LOCK TABLE endpoints IN ACCESS EXCLUSIVE MODE');
    // The prober's next check (at most 5 s away) now waits on the lock, and so does the gateway's health
    // check of the same table, each every 5 s: on with the test once both wait (or 6 s have passed, which is
    // past both), so that the prober is among what shutdown finds pending.
    const waitingSince = Date.now();
    while ((await lockWaiters(url)) < 2 && Date.now() - waitingSince < 6000) {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(await lockWaiters(url)).toBeGreaterThan(0);

    const signalled = Date.now();
    process.kill(server.child.pid!, 'SIGTERM');
    const outcome = await Promise.race([
      server.exited,
      new Promise<'still running'>((resolve) => setTimeout(() => resolve('still running'), 20_000)),
    ]);
    const tookMs = Date.now() - signalled;
    expect(outcome, server.output()).not.toBe('still running');
    expect(outcome).toEqual({ code: 1, signal: null });
    // 3 s deadline, the pool's 2 s close grace, and some slack for a busy machine.
    expect(tookMs).toBeGreaterThanOrEqual(2700);
    expect(tookMs).toBeLessThan(9000);
    expect(server.output()).toContain(
      'shutdown did not finish within 3000 ms; still pending: endpoint health checks',
    );
    // The lock holder was never disturbed: it still holds the lock and commits normally.
    await locker.query('COMMIT');
  }, 60_000);
});
