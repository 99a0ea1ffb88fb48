import { expect, it } from 'vitest';
import { storeMigrations } from '../../src/store/migrations.js';
import { openStore } from '../../src/store/open-store.js';
import { rejectsWithCode, type ContractHarness } from './contract-harness.js';

/** API keys, join tokens, usage, transactions, migrations and leadership. */

/** Of racing writes of one key name, exactly one succeeded and the others were refused as conflicts. */
function expectOneWinner(results: PromiseSettledResult<unknown>[], name: string): void {
  expect(
    results.filter((r) => r.status === 'fulfilled'),
    name,
  ).toHaveLength(1);
  for (const r of results.filter((r) => r.status === 'rejected'))
    expect((r.reason as { code?: string }).code, String(r.reason)).toBe('conflict');
}

export function securityContract(h: ContractHarness): void {
  it('stores API keys by hash and revokes them', async () => {
    const store = await h.open();
    const admin = await store.createApiKey({ name: 'admin', keyHash: 'hash-admin', role: 'admin' });
    const app = await store.createApiKey({ name: 'app', keyHash: 'hash-app', role: 'inference' });
    expect(await store.findApiKeyByHash('hash-app')).toEqual(app);
    expect(await store.findApiKeyByHash('hash-none')).toBeNull();
    await rejectsWithCode(
      store.createApiKey({ name: 'dup', keyHash: 'hash-app', role: 'admin' }),
      'conflict',
    );
    await store.revokeApiKey(app.id, 7_000);
    await store.revokeApiKey(app.id, 8_000);
    expect((await store.findApiKeyByHash('hash-app'))?.revokedAtMs).toBe(7_000);
    expect((await store.listApiKeys()).map((k) => k.id).sort()).toEqual([admin.id, app.id].sort());
    await rejectsWithCode(store.revokeApiKey('nope'), 'not_found');
  });

  it('keeps one active key per name, also when two control planes create it at once', async () => {
    const { store, url } = await h.openFresh();
    // SQLite's file belongs to one control plane: there, four at once through one store.
    const other = h.target.dialect === 'postgres' ? await h.open(url) : store;
    // Ten rounds of the same name created at once through two stores on one database.
    for (let round = 0; round < 10; round++) {
      const name = `team-${round}`;
      const results = await Promise.allSettled(
        [store, other, store, other].map((s, i) =>
          s.createApiKey({ name, keyHash: `hash-${round}-${i}`, role: 'inference' }),
        ),
      );
      expectOneWinner(results, name);
    }
    // A revoked key's name is free again.
    const active = (await store.listApiKeys()).find((k) => k.name === 'team-0')!;
    await rejectsWithCode(
      store.createApiKey({ name: 'team-0', keyHash: 'again', role: 'inference' }),
      'conflict',
    );
    await store.revokeApiKey(active.id);
    expect((await other.createApiKey({ name: 'team-0', keyHash: 'again', role: 'inference' })).name).toBe(
      'team-0',
    );
  });

  it("keeps an API key's limits, allow-list and region, and when it was last used", async () => {
    const store = await h.open();
    const plain = await store.createApiKey({ name: 'plain', keyHash: 'hash-plain', role: 'inference' });
    expect(plain).toMatchObject({
      allowedModels: null,
      rpm: null,
      tpm: null,
      tokenBudget: null,
      region: null,
      lastUsedAtMs: null,
    });
    const limited = await store.createApiKey({
      name: 'limited',
      keyHash: 'hash-limited',
      role: 'inference',
      allowedModels: ['chat-7b', 'embed'],
      rpm: 60,
      tpm: 10_000,
      tokenBudget: 5_000_000_000,
      region: 'cn-east',
    });
    expect(limited).toMatchObject({
      allowedModels: ['chat-7b', 'embed'],
      rpm: 60,
      tpm: 10_000,
      tokenBudget: 5_000_000_000,
      region: 'cn-east',
    });
    expect(await store.findApiKeyByHash('hash-limited')).toEqual(limited);
    await store.touchApiKey(limited.id, 9_000);
    await store.touchApiKey(limited.id, 8_000);
    await store.touchApiKey('no-such-key', 8_000);
    expect((await store.findApiKeyByHash('hash-limited'))?.lastUsedAtMs).toBe(9_000);
    expect((await store.listApiKeys()).find((k) => k.id === plain.id)?.lastUsedAtMs).toBeNull();
  });

  it("changes a key's name, allow-list, limits and region, not a revoked key's, and keeps names unique", async () => {
    const store = await h.open();
    const key = await store.createApiKey({
      name: 'team',
      keyHash: 'hash-team',
      role: 'inference',
      allowedModels: ['chat'],
      rpm: 10,
      tokenBudget: 1000,
    });
    const raised = await store.updateApiKey(key.id, { tokenBudget: 5_000_000_000, rpm: null, tpm: 500 });
    expect(raised).toEqual({ ...key, tokenBudget: 5_000_000_000, rpm: null, tpm: 500 });
    expect(await store.findApiKeyByHash('hash-team')).toEqual(raised);
    const moved = await store.updateApiKey(key.id, {
      name: 'team-renamed',
      allowedModels: null,
      region: 'north',
    });
    expect(moved).toEqual({ ...raised, name: 'team-renamed', allowedModels: null, region: 'north' });
    expect(await store.updateApiKey(key.id, { allowedModels: ['a', 'b'], region: null })).toMatchObject({
      allowedModels: ['a', 'b'],
      region: null,
      role: 'inference',
      keyHash: 'hash-team',
    });
    // An empty patch changes nothing and answers the key; its own name is no conflict.
    expect(await store.updateApiKey(key.id, {})).toEqual(await store.findApiKeyByHash('hash-team'));
    expect((await store.updateApiKey(key.id, { name: 'team-renamed' })).name).toBe('team-renamed');

    const other = await store.createApiKey({ name: 'other', keyHash: 'hash-other', role: 'inference' });
    await rejectsWithCode(store.updateApiKey(other.id, { name: 'team-renamed' }), 'conflict');
    expect((await store.findApiKeyByHash('hash-other'))?.name).toBe('other');
    // A revoked key's name is free; a revoked key cannot be changed.
    await store.revokeApiKey(key.id);
    expect((await store.updateApiKey(other.id, { name: 'team-renamed' })).name).toBe('team-renamed');
    await rejectsWithCode(store.updateApiKey(key.id, { tokenBudget: 1 }), 'conflict');
    await rejectsWithCode(store.updateApiKey(key.id, {}), 'conflict');
    expect((await store.findApiKeyByHash('hash-team'))?.tokenBudget).toBe(5_000_000_000);
    await rejectsWithCode(store.updateApiKey('no-such-key', { rpm: 1 }), 'not_found');
    // The key is judged before the name it was to get: unknown is not_found, revoked says revoked.
    await rejectsWithCode(store.updateApiKey('no-such-key', { name: 'team-renamed' }), 'not_found');
    await expect(store.updateApiKey(key.id, { name: 'team-renamed' })).rejects.toThrow(/is revoked/);
  });

  it('lets one of two keys renamed to one name at once (two control planes) have it', async () => {
    const { store, url } = await h.openFresh();
    const other = h.target.dialect === 'postgres' ? await h.open(url) : store;
    for (let round = 0; round < 5; round++) {
      const a = await store.createApiKey({ name: `a-${round}`, keyHash: `ha-${round}`, role: 'inference' });
      const b = await other.createApiKey({ name: `b-${round}`, keyHash: `hb-${round}`, role: 'inference' });
      const name = `shared-${round}`;
      const results = await Promise.allSettled([
        store.updateApiKey(a.id, { name }),
        other.updateApiKey(b.id, { name }),
        other.createApiKey({ name, keyHash: `hc-${round}`, role: 'inference' }),
      ]);
      expectOneWinner(results, name);
      expect((await store.listApiKeys()).filter((k) => k.name === name)).toHaveLength(1);
    }
  });

  it('totals the tokens a key used over all time', async () => {
    const store = await h.open();
    expect(await store.totalTokensForKey('key-x')).toBe(0);
    await store.appendUsage([
      { keyId: 'key-x', model: 'a', promptTokens: 10, completionTokens: 5, atMs: 1 },
      { keyId: 'key-x', model: 'b', promptTokens: 3_000_000_000, completionTokens: 7, atMs: 2 },
      { keyId: 'key-y', model: 'a', promptTokens: 100, completionTokens: 100, atMs: 3 },
    ]);
    expect(await store.totalTokensForKey('key-x')).toBe(3_000_000_022);
    expect(await store.totalTokensForKey('key-y')).toBe(200);
  });

  it('consumes a join token once, and refuses expired and unknown ones', async () => {
    const store = await h.open();
    const token = await store.createJoinToken({ tokenHash: 'jt-1', expiresAtMs: 10_000 });
    expect(token.usedAtMs).toBeNull();
    const first = await store.consumeJoinToken('jt-1', 5_000);
    expect(first).toEqual({ ok: true, token: { ...token, usedAtMs: 5_000 } });
    expect(await store.consumeJoinToken('jt-1', 5_001)).toEqual({ ok: false, reason: 'used' });
    await store.createJoinToken({ tokenHash: 'jt-2', expiresAtMs: 10_000 });
    expect(await store.consumeJoinToken('jt-2', 10_000)).toEqual({ ok: false, reason: 'expired' });
    expect(await store.consumeJoinToken('jt-none', 1)).toEqual({ ok: false, reason: 'unknown' });
    await rejectsWithCode(store.createJoinToken({ tokenHash: 'jt-1', expiresAtMs: 1 }), 'conflict');
  });

  it('lets exactly one of two concurrent consumers (two stores) use a join token', async () => {
    const { store, url } = await h.openFresh();
    const other = await h.open(url);
    for (let round = 0; round < 5; round++) {
      await store.createJoinToken({ tokenHash: `race-${round}`, expiresAtMs: Date.now() + 60_000 });
      const results = await Promise.all([
        store.consumeJoinToken(`race-${round}`),
        other.consumeJoinToken(`race-${round}`),
        store.consumeJoinToken(`race-${round}`),
      ]);
      expect(results.filter((r) => r.ok)).toHaveLength(1);
      expect(results.filter((r) => !r.ok && r.reason === 'used')).toHaveLength(2);
    }
  });

  it('appends usage in batches and sums it per key and model over a time range', async () => {
    const store = await h.open();
    await store.appendUsage([]);
    const records = Array.from({ length: 450 }, (_, i) => ({
      keyId: i % 3 === 0 ? 'key-b' : 'key-a',
      model: i % 2 === 0 ? 'deepseek-r1-7b' : 'qwen-0.5b',
      promptTokens: 10,
      completionTokens: i,
      atMs: 1_000 + i,
    }));
    await store.appendUsage(records);
    const all = await store.sumUsage({ fromMs: 0, toMs: 10_000 });
    expect(all.map((s) => `${s.keyId}/${s.model}`)).toEqual([
      'key-a/deepseek-r1-7b',
      'key-a/qwen-0.5b',
      'key-b/deepseek-r1-7b',
      'key-b/qwen-0.5b',
    ]);
    expect(all.reduce((sum, s) => sum + s.requests, 0)).toBe(450);
    expect(all.reduce((sum, s) => sum + s.promptTokens, 0)).toBe(4_500);
    expect(all.reduce((sum, s) => sum + s.completionTokens, 0)).toBe((449 * 450) / 2);
    // [1000, 1006): i = 0..5; key-b has i = 0 and 3.
    expect(await store.sumUsage({ keyId: 'key-b', fromMs: 1_000, toMs: 1_006 })).toEqual([
      { keyId: 'key-b', model: 'deepseek-r1-7b', requests: 1, promptTokens: 10, completionTokens: 0 },
      { keyId: 'key-b', model: 'qwen-0.5b', requests: 1, promptTokens: 10, completionTokens: 3 },
    ]);
    const oneModel = await store.sumUsage({ keyId: 'key-a', model: 'qwen-0.5b', fromMs: 0, toMs: 1_006 });
    expect(oneModel).toEqual([
      { keyId: 'key-a', model: 'qwen-0.5b', requests: 2, promptTokens: 20, completionTokens: 6 },
    ]);
    expect(await store.sumUsage({ fromMs: 5_000, toMs: 6_000 })).toEqual([]);
  });

  it('commits a transaction, and rolls it back entirely when it throws', async () => {
    const store = await h.open();
    const committed = await store.withTransaction(async (tx) => {
      const d = await tx.createDeployment({ name: 'kept', modelRef: 'm', replicas: 1 });
      await tx.createInstance({ deploymentId: d.id, engine: 'e' });
      return d;
    });
    expect(await store.listInstances({ deploymentId: committed.id })).toHaveLength(1);
    await expect(
      store.withTransaction(async (tx) => {
        const d = await tx.createDeployment({ name: 'dropped', modelRef: 'm', replicas: 1 });
        await tx.createInstance({ deploymentId: d.id, engine: 'e' });
        await tx.withTransaction((inner) => inner.appendUsage([usage(1)]));
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    expect(await store.getDeploymentByName('dropped')).toBeNull();
    expect(await store.listInstances()).toHaveLength(1);
    expect(await store.sumUsage({ fromMs: 0, toMs: 10 })).toEqual([]);
    await rejectsWithCode(
      store.withTransaction(async (tx) => {
        await tx.appendUsage([usage(2)]);
        await tx.createDeployment({ name: 'kept', modelRef: 'm', replicas: 1 });
      }),
      'conflict',
    );
    expect(await store.sumUsage({ fromMs: 0, toMs: 10 })).toEqual([]);
    // The store still works after rollbacks.
    await store.appendUsage([usage(3)]);
    expect(await store.sumUsage({ fromMs: 0, toMs: 10 })).toHaveLength(1);
  });

  it('migrates on open, idempotently, and refuses a database newer than the code', async () => {
    const { store, url } = await h.openFresh();
    expect(await store.schemaVersion()).toBe(storeMigrations.length);
    await store.upsertSite({ name: 'kept-site' });
    await store.close();
    const reopened = await h.open(url);
    expect(await reopened.schemaVersion()).toBe(storeMigrations.length);
    expect((await reopened.listSites()).map((s) => s.name)).toEqual(['kept-site']);
    await reopened.close();
    const future = [
      ...storeMigrations,
      {
        version: storeMigrations.length + 1,
        name: 'future',
        statements: ['CREATE TABLE future_t (id TEXT)'],
      },
    ];
    const upgraded = await h.open(url, { migrations: future });
    expect(await upgraded.schemaVersion()).toBe(future.length);
    await upgraded.close();
    const error = await rejectsWithCode(openStore(url), 'store_schema_too_new');
    expect(error.message).toMatch(
      new RegExp(`schema version ${future.length} .*knows only up to ${storeMigrations.length}`),
    );
    await rejectsWithCode(openStore('mysql://localhost/x'), 'invalid_argument');
  });

  it('grants leadership to one store at a time', async () => {
    const { store: first, url } = await h.openFresh();
    const second = await h.open(url);
    expect(await first.tryAcquireLeadership('scheduler')).toBe(true);
    expect(await first.tryAcquireLeadership('scheduler')).toBe(true);
    const exclusive = h.target.leadershipIsExclusive;
    expect(await second.tryAcquireLeadership('scheduler')).toBe(!exclusive);
    expect(await second.tryAcquireLeadership('reaper')).toBe(true);
    await first.releaseLeadership('scheduler');
    expect(await second.tryAcquireLeadership('scheduler')).toBe(true);
    expect(await first.tryAcquireLeadership('scheduler')).toBe(!exclusive);
    // The holder dies (its connection closes): the other takes over.
    await second.close();
    expect(await first.tryAcquireLeadership('scheduler')).toBe(true);
    await first.releaseLeadership('scheduler');
    await first.releaseLeadership('never-held');
  });
}

function usage(atMs: number) {
  return { keyId: 'k', model: 'm', promptTokens: 1, completionTokens: 1, atMs };
}
