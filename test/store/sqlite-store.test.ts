import Database from 'better-sqlite3';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { storeMigrations } from '../../src/store/migrations.js';
import { openStore } from '../../src/store/open-store.js';
import { runMigrations } from '../../src/store/run-migrations.js';
import { createSqlStore } from '../../src/store/sql-store.js';
import { maxCachedStatements, SqliteDriver } from '../../src/store/sqlite/sqlite-driver.js';
import { rejectsWithCode } from './contract-harness.js';
import { describeStoreContract } from './store-contract.js';

const directory = mkdtempSync(join(tmpdir(), 'edgefleet-store-'));
let count = 0;

afterAll(() => rmSync(directory, { recursive: true, force: true }));

describeStoreContract('SQLite', {
  dialect: 'sqlite',
  freshUrl: () => Promise.resolve(`sqlite:${join(directory, `store-${++count}`, 'edgefleet.db')}`),
  leadershipIsExclusive: false,
});

describe('SQLite store specifics', () => {
  it('opens in WAL mode, creating the directory, and accepts sqlite::memory:', async () => {
    const path = join(directory, 'nested', 'deeper', 'wal.db');
    const store = await openStore(`sqlite:${path}`);
    try {
      expect(store.dialect).toBe('sqlite');
      await store.upsertSite({ name: 'room' });
      expect(existsSync(`${path}-wal`)).toBe(true);
    } finally {
      await store.close();
      await store.close();
    }
    const memory = await openStore('sqlite::memory:');
    expect(await memory.schemaVersion()).toBe(storeMigrations.length);
    await memory.close();
    await rejectsWithCode(openStore('sqlite:'), 'invalid_argument');
  });

  it('keeps its cache of prepared statements bounded while the traffic query moves with the clock', async () => {
    // The dashboard polls /api/v1/traffic every few seconds; each call's time range is new SQL text.
    const driver = new SqliteDriver(':memory:');
    await runMigrations(driver, storeMigrations);
    const store = createSqlStore(driver);
    try {
      const t0 = 1_700_000_000_000;
      await store.appendUsage([{ keyId: 'k', model: 'm', promptTokens: 1, completionTokens: 2, atMs: t0 }]);
      for (let poll = 0; poll < 200; poll++) {
        const traffic = await store.trafficBuckets({ fromMs: t0 - poll, stepMs: 5000, buckets: 12 });
        expect(traffic.fleet.map((b) => b.requests)).toEqual([1]);
      }
      expect(driver.cachedStatements).toBeGreaterThan(100);
      expect(driver.cachedStatements).toBeLessThanOrEqual(maxCachedStatements);
    } finally {
      await store.close();
    }
  });

  it('upgrades a version-2 usage ledger: old rows count as successful, without site or timings', async () => {
    const path = join(directory, 'upgrade.db');
    const old = await openStore(`sqlite:${path}`, { migrations: storeMigrations.slice(0, 2) });
    expect(await old.schemaVersion()).toBe(2);
    await old.close();
    const raw = new Database(path);
    raw
      .prepare(
        `INSERT INTO usage_records (id, key_id, model, prompt_tokens, completion_tokens, at_ms)
         VALUES ('old-1', 'k', 'm', 5, 7, 100)`,
      )
      .run();
    raw.close();
    const store = await openStore(`sqlite:${path}`);
    try {
      expect(await store.schemaVersion()).toBe(storeMigrations.length);
      expect(await store.totalTokensForKey('k')).toBe(12);
      expect(await store.aggregateUsage({ fromMs: 0, toMs: 1_000, groupBy: ['key', 'site'] })).toEqual([
        {
          keyId: 'k',
          model: null,
          siteName: null,
          gatewaySite: null,
          bucketStartMs: null,
          requests: 1,
          errors: 0,
          promptTokens: 5,
          completionTokens: 7,
          meanTtftMs: null,
          meanDurationMs: null,
        },
      ]);
      // The id is taken: shipping it again changes nothing.
      expect(
        await store.appendUsage([
          { id: 'old-1', keyId: 'k', model: 'm', promptTokens: 1, completionTokens: 1, atMs: 100 },
        ]),
      ).toBe(0);
    } finally {
      await store.close();
    }
  });

  it('keeps statements from outside an open transaction out of it', async () => {
    const store = await openStore(`sqlite:${join(directory, 'isolation.db')}`);
    try {
      let release: () => void = () => undefined;
      const gate = new Promise<void>((resolve) => (release = resolve));
      const transaction = store.withTransaction(async (tx) => {
        await tx.upsertSite({ name: 'inside' });
        await gate;
        throw new Error('roll back');
      });
      const outside = store.upsertSite({ name: 'outside' });
      release();
      await expect(transaction).rejects.toThrow('roll back');
      await outside;
      expect((await store.listSites()).map((s) => s.name)).toEqual(['outside']);
    } finally {
      await store.close();
    }
  });
});
