import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { storeMigrations } from '../../src/store/migrations.js';
import { openStore } from '../../src/store/open-store.js';
import { PostgresDriver } from '../../src/store/postgres/postgres-driver.js';
import type { Store } from '../../src/store/store.js';
import { startFreezeProxy, type FreezeProxy } from '../helpers/freeze-proxy.js';
import { rejectsWithCode } from './contract-harness.js';
import { PostgresTestDatabases } from './postgres-test-databases.js';

/**
 * The PostgreSQL driver must not wait forever on a database that stalls: a statement blocked on a lock
 * another session holds, or a network that stopped answering (a TCP proxy that stops forwarding while
 * both ends keep their sockets open). Each case uses a fresh database on the test server.
 */
const databases = new PostgresTestDatabases();
const stores: Store[] = [];
const clients: pg.Client[] = [];
const proxies: FreezeProxy[] = [];

beforeAll(() => databases.connect());
afterEach(async () => {
  for (const proxy of proxies.splice(0)) await proxy.close();
  for (const client of clients.splice(0)) await client.end().catch(() => undefined);
  for (const store of stores.splice(0)) await store.close().catch(() => undefined);
});
afterAll(() => databases.dropAll());

const open = async (url: string) => {
  const store = await openStore(url);
  stores.push(store);
  return store;
};

/** Another session that takes `LOCK TABLE endpoints IN ACCESS EXCLUSIVE MODE` and keeps it until ended. */
async function lockEndpoints(url: string): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: url });
  clients.push(client);
  await client.connect();
  await client.query('BEGIN');
  await client.query('LOCK TABLE endpoints IN ACCESS EXCLUSIVE MODE');
  return client;
}

/** Resolves once a session of the database waits for a lock. */
async function someoneWaitsOnALock(url: string): Promise<void> {
  const name = new URL(url).pathname.slice(1);
  const admin = new pg.Client({ connectionString: databases.adminUrl });
  await admin.connect();
  try {
    for (const deadline = Date.now() + 5000; Date.now() < deadline;) {
      const { rows } = await admin.query(
        "SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1 AND wait_event_type = 'Lock'",
        [name],
      );
      if ((rows[0] as { n: number }).n > 0) return;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    throw new Error(`no session of ${name} waits on a lock`);
  } finally {
    await admin.end();
  }
}

/** How long `promise` took to settle, or `limitMs` + 1 when it had not settled by then. */
async function settleMs(promise: Promise<unknown>, limitMs: number): Promise<number> {
  const started = Date.now();
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<number>((resolve) => (timer = setTimeout(() => resolve(limitMs + 1), limitMs)));
  const settled = promise.then(
    () => Date.now() - started,
    () => Date.now() - started,
  );
  try {
    return await Promise.race([settled, late]);
  } finally {
    clearTimeout(timer);
  }
}

describe('PostgreSQL timeouts', () => {
  it('sets a 60 s statement_timeout by default; ?statement_timeout=MS in the URL sets another', async () => {
    const url = await databases.fresh();
    const shown = async (driverUrl: string) => {
      const driver = new PostgresDriver(driverUrl);
      try {
        return (await driver.query('SHOW statement_timeout'))[0]?.['statement_timeout'];
      } finally {
        await driver.close();
      }
    };
    expect(await shown(url)).toBe('1min');
    expect(await shown(`${url}?statement_timeout=1500`)).toBe('1500ms');
    expect(await shown(`${url}?statement_timeout=0`)).toBe('0');
    expect(() => new PostgresDriver(`${url}?statement_timeout=1s`)).toThrow(/whole milliseconds/);
  });

  it('fails a statement blocked past statement_timeout with store_unavailable and goes on serving', async () => {
    const url = await databases.fresh();
    const store = await open(`${url}?statement_timeout=300`);
    const locker = await lockEndpoints(url);
    const started = Date.now();
    await rejectsWithCode(store.listEndpoints(), 'store_unavailable');
    await rejectsWithCode(
      store.withTransaction((tx) => tx.listEndpoints()),
      'store_unavailable',
    );
    expect(Date.now() - started).toBeLessThan(3000);
    await locker.query('ROLLBACK');
    expect(await store.listEndpoints()).toEqual([]);
    expect(await store.withTransaction((tx) => tx.listEndpoints())).toEqual([]);
  });

  it('runs migrations without the statement timeout', async () => {
    const url = await databases.fresh();
    const slow = { version: storeMigrations.length + 1, name: 'slow', statements: ['SELECT pg_sleep(0.6)'] };
    const store = await openStore(`${url}?statement_timeout=200`, { migrations: [...storeMigrations, slow] });
    stores.push(store);
    expect(await store.schemaVersion()).toBe(slow.version);
    // Only the migration run goes without: the store's own statements keep the timeout.
    const locker = await lockEndpoints(url);
    await rejectsWithCode(store.listEndpoints(), 'store_unavailable');
    await locker.query('ROLLBACK');
  });

  it('closes within its grace while a statement waits on a lock held elsewhere', async () => {
    const url = await databases.fresh();
    const store = await openStore(url);
    const locker = await lockEndpoints(url);
    const blocked = store.listEndpoints();
    blocked.catch(() => undefined);
    await someoneWaitsOnALock(url);
    // close() waits 2 s for the statement, then cuts its connection: it fails, the close returns.
    expect(await settleMs(store.close(), 6000)).toBeLessThan(4000);
    await rejectsWithCode(blocked, 'store_unavailable');
    await locker.query('ROLLBACK');
  });

  it('gives up on a statement PostgreSQL never answers (frozen network), and closes in bounded time', async () => {
    const url = await databases.fresh();
    await openStore(url).then((s) => s.close()); // migrated directly, not through the proxy
    const proxy = await startFreezeProxy({ host: '127.0.0.1', port: Number(new URL(url).port || 5432) });
    proxies.push(proxy);
    const proxied = new URL(url);
    proxied.port = String(proxy.port);
    // statement_timeout 200 ms: the client waits 5 s longer for an answer, then gives the connection up.
    proxied.searchParams.set('statement_timeout', '200');
    const store = await open(proxied.toString());
    expect(await store.listEndpoints()).toEqual([]);
    expect(await store.tryAcquireLeadership('scheduler')).toBe(true);

    // A transaction whose second statement gets no answer, and a statement outside it.
    let started = 0;
    const inTransaction = store.withTransaction(async (tx) => {
      await tx.listEndpoints();
      proxy.freeze();
      started = Date.now();
      return tx.listEndpoints();
    });
    while (started === 0) await new Promise((resolve) => setTimeout(resolve, 10));
    const [plain, transaction] = await Promise.allSettled([store.listEndpoints(), inTransaction]);
    const took = Date.now() - started;
    expect(took).toBeGreaterThanOrEqual(5000);
    // The transaction does not wait a second time on a ROLLBACK behind the unanswered statement.
    expect(took).toBeLessThan(8000);
    for (const outcome of [plain, transaction]) {
      expect(outcome.status).toBe('rejected');
      expect((outcome as PromiseRejectedResult).reason).toMatchObject({ code: 'store_unavailable' });
    }

    // Idle pool connections and the leadership connection never see their goodbye answered either.
    expect(await settleMs(store.close(), 8000)).toBeLessThan(5000);
  }, 30_000);
});
