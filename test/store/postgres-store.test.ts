import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { storeMigrations } from '../../src/store/migrations.js';
import { openStore } from '../../src/store/open-store.js';
import { PostgresDriver } from '../../src/store/postgres/postgres-driver.js';
import { rejectsWithCode } from './contract-harness.js';
import { PostgresTestDatabases } from './postgres-test-databases.js';
import { describeStoreContract } from './store-contract.js';

const databases = new PostgresTestDatabases();

beforeAll(() => databases.connect());
afterAll(() => databases.dropAll());

describeStoreContract('PostgreSQL', {
  dialect: 'postgres',
  freshUrl: () => databases.fresh(),
  leadershipIsExclusive: true,
});

describe('PostgreSQL store specifics', () => {
  it('reports an unreachable server as store_unavailable', async () => {
    await rejectsWithCode(openStore('postgres://postgres@127.0.0.1:1/none'), 'store_unavailable');
  });

  it('reports a refused login as store_unavailable, saying so', async () => {
    const url = new URL(await databases.fresh());
    url.username = 'edgefleet_no_such_role';
    url.password = '';
    const opened = openStore(url.toString());
    await rejectsWithCode(opened, 'store_unavailable');
    await expect(opened).rejects.toThrow(/^PostgreSQL refused the login: .*edgefleet_no_such_role/);
  });

  it('migrates once when two replicas open a new database together', async () => {
    const url = await databases.fresh();
    const stores = await Promise.all([openStore(url), openStore(url), openStore(url)]);
    try {
      expect(await Promise.all(stores.map((s) => s.schemaVersion()))).toEqual(
        Array(3).fill(storeMigrations.length),
      );
      expect(stores.every((s) => s.dialect === 'postgres')).toBe(true);
    } finally {
      await Promise.all(stores.map((s) => s.close()));
    }
  });

  it('fails a transaction whose connection dies between two statements, and goes on serving', async () => {
    // The server shutting down (or a terminated session) while a transaction waits between statements:
    // the connection's error must fail that transaction, not end the process as an unheard 'error' event.
    const url = await databases.fresh();
    const store = await openStore(url);
    try {
      const transaction = store.withTransaction(async (tx) => {
        await tx.schemaVersion();
        expect(await databases.terminateSessions(url)).toBeGreaterThan(0);
        // Let the client read the server's goodbye while no statement of it runs.
        await new Promise((resolve) => setTimeout(resolve, 100));
        return tx.schemaVersion();
      });
      await rejectsWithCode(transaction, 'store_unavailable');
      // The broken connection went back to the pool as broken: the next queries get a new one.
      expect(await store.schemaVersion()).toBe(storeMigrations.length);
      expect(await store.withTransaction((tx) => tx.schemaVersion())).toBe(storeMigrations.length);
    } finally {
      await store.close();
    }
  });

  it('fails a transaction whose connection dies during a statement, and goes on serving', async () => {
    const url = await databases.fresh();
    const driver = new PostgresDriver(url);
    try {
      const transaction = driver.transaction(async (tx) => {
        const sleeping = tx.query('SELECT pg_sleep(10)');
        sleeping.catch(() => undefined); // it fails before it is returned; the transaction reports it
        await new Promise((resolve) => setTimeout(resolve, 200));
        await databases.terminateSessions(url);
        return sleeping;
      });
      await rejectsWithCode(transaction, 'store_unavailable');
      expect(await driver.query('SELECT 1 AS one')).toEqual([{ one: 1 }]);
    } finally {
      await driver.close();
    }
  });

  it('hands leadership over when the holder connection dies, and the old holder notices', async () => {
    const url = await databases.fresh();
    const [holder, standby] = await Promise.all([openStore(url), openStore(url)]);
    try {
      expect(await holder.tryAcquireLeadership('scheduler')).toBe(true);
      expect(await standby.tryAcquireLeadership('scheduler')).toBe(false);
      // Kill the holder's session the way a crash or a network cut would.
      const killed = await databases.terminateAdvisoryLockHolders(url);
      expect(killed).toBe(1);
      // pg_terminate_backend only signals the backend; its locks go when it has exited.
      let acquired = false;
      for (const deadline = Date.now() + 5000; !acquired && Date.now() < deadline;) {
        acquired = await standby.tryAcquireLeadership('scheduler');
        if (!acquired) await new Promise((resolve) => setTimeout(resolve, 50));
      }
      expect(acquired).toBe(true);
      expect(await holder.tryAcquireLeadership('scheduler')).toBe(false);
    } finally {
      await Promise.all([holder.close(), standby.close()]);
    }
  });
});
