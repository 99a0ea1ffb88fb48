import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { StoreKeyLookup } from '../../src/control/server/key-lookup.js';
import { hashSecret } from '../../src/http/bearer-secret.js';
import { KeyGuard } from '../../src/gateway/auth/key-guard.js';
import { LocalRateLimiter } from '../../src/gateway/auth/local-rate-limiter.js';
import { openStore } from '../../src/store/open-store.js';
import type { Store } from '../../src/store/store.js';

describe('StoreKeyLookup (the store behind the gateway key guard)', () => {
  let home: string;
  let store: Store;
  const clock = { now: 1_000_000 };

  beforeEach(async () => {
    home = await mkdtemp(join(tmpdir(), 'ef-key-lookup-'));
    store = await openStore(`sqlite:${join(home, 'edgefleet.db')}`);
  });
  afterEach(async () => {
    await store.close();
    await rm(home, { recursive: true, force: true });
  });

  it('finds a key by its secret with its limits and ledger tokens, and marks it used', async () => {
    const key = await store.createApiKey({
      name: 'team',
      keyHash: hashSecret('ef_key_team'),
      role: 'inference',
      allowedModels: ['chat'],
      rpm: 10,
      tokenBudget: 1000,
      region: 'north',
    });
    await store.appendUsage([
      { keyId: key.id, model: 'chat', promptTokens: 70, completionTokens: 30, atMs: 1 },
    ]);
    const lookup = new StoreKeyLookup({ store, now: () => clock.now });
    const askedAtMs = Date.now();
    const found = await lookup.lookup('ef_key_team');
    // When the ledger total was read (the wall clock: shipments are dated by it), for the budget.
    expect(found!.tokensUsedAtMs).toBeGreaterThanOrEqual(askedAtMs);
    expect(found!.tokensUsedAtMs).toBeLessThanOrEqual(Date.now());
    expect({ ...found, tokensUsedAtMs: undefined }).toEqual({
      keyId: key.id,
      name: 'team',
      role: 'inference',
      allowedModels: ['chat'],
      rpm: 10,
      tpm: null,
      tokenBudget: 1000,
      region: 'north',
      tokensUsed: 100,
      tokensUsedAtMs: undefined,
    });
    expect(await lookup.lookup('ef_key_other')).toBeNull();
    await expect.poll(async () => (await store.findApiKeyByHash(key.keyHash))?.lastUsedAtMs).toBe(clock.now);
  });

  it('caches answers for cacheMs: a revocation takes effect once the cache time has passed', async () => {
    const key = await store.createApiKey({
      name: 'app',
      keyHash: hashSecret('ef_key_app'),
      role: 'inference',
    });
    const lookup = new StoreKeyLookup({ store, cacheMs: 5000, now: () => clock.now });
    const guard = new KeyGuard({ lookup: lookup.lookup, limiter: new LocalRateLimiter() });
    expect((await guard.authenticate('Bearer ef_key_app')).keyId).toBe(key.id);
    await store.revokeApiKey(key.id);
    clock.now += 4000;
    expect((await guard.authenticate('Bearer ef_key_app')).keyId).toBe(key.id);
    clock.now += 1001;
    await expect(guard.authenticate('Bearer ef_key_app')).rejects.toMatchObject({ code: 'unauthorized' });
  });

  it('answers from its cache while the store fails, and fails for keys it never saw', async () => {
    await store.createApiKey({ name: 'app', keyHash: hashSecret('ef_key_app'), role: 'inference' });
    const lookup = new StoreKeyLookup({ store, cacheMs: 1000, staleMs: 60_000, now: () => clock.now });
    expect((await lookup.lookup('ef_key_app'))?.name).toBe('app');
    await store.close();
    clock.now += 30_000;
    expect((await lookup.lookup('ef_key_app'))?.name).toBe('app');
    await expect(lookup.lookup('ef_key_unseen')).rejects.toThrow();
    clock.now += 31_000;
    await expect(lookup.lookup('ef_key_app')).rejects.toThrow();
    store = await openStore(`sqlite:${join(home, 'edgefleet.db')}`);
  });
});
