import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { storeMigrations } from '../../src/store/migrations.js';
import { openStore } from '../../src/store/open-store.js';
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
