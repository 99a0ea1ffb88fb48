import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ControlServer } from '../../src/control/server/control-server.js';
import { StoreKeyLookup } from '../../src/control/server/key-lookup.js';
import { StoreRouteSource } from '../../src/control/server/route-table.js';
import { hashSecret } from '../../src/http/bearer-secret.js';
import { EdgeFleetError } from '../../src/spec/edgefleet-error.js';
import { openStore } from '../../src/store/open-store.js';
import type { Store } from '../../src/store/store.js';

/** A real store whose every call can be made to fail like a stopped PostgreSQL, or to hang like a lost link. */
function switchable(store: Store): { store: Store; mode: 'up' | 'down' | 'hang'; calls: number } {
  const state = { mode: 'up' as 'up' | 'down' | 'hang', calls: 0, store };
  state.store = new Proxy(store, {
    get(target, property, receiver) {
      const value: unknown = Reflect.get(target, property, receiver);
      if (typeof value !== 'function' || property === 'close') return value;
      return (...args: unknown[]) => {
        state.calls += 1;
        if (state.mode === 'up') return (value as (...a: unknown[]) => unknown).apply(target, args);
        if (state.mode === 'hang') return new Promise(() => undefined);
        // Like the PostgreSQL driver: a refused connection, a little later.
        return new Promise((_, reject) =>
          setTimeout(
            () =>
              reject(new EdgeFleetError('store_unavailable', 'PostgreSQL unavailable: connect ECONNREFUSED')),
            10,
          ),
        );
      };
    },
  });
  return state;
}

describe('the control plane while its store fails', () => {
  let home: string;
  let real: Store;

  beforeEach(async () => {
    home = await mkdtemp(join(tmpdir(), 'ef-store-outage-'));
    real = await openStore(`sqlite:${join(home, 'edgefleet.db')}`);
  });
  afterEach(async () => {
    await real.close();
    await rm(home, { recursive: true, force: true });
  });

  const addExternal = async (model: string) => {
    const site = await real.upsertSite({ name: 'room-a' });
    const endpoint = await real.createEndpoint({ model, url: 'http://127.0.0.1:9/x', siteId: site.id });
    await real.recordEndpointCheck(endpoint.id, { healthy: true });
    return endpoint;
  };

  it('routes from the last route table while the store fails, without waiting on it, and rebuilds after', async () => {
    const first = await addExternal('chat');
    const db = switchable(real);
    let recovered = 0;
    const routes = new StoreRouteSource(db.store, {
      maxAgeMs: 20,
      buildTimeoutMs: 200,
      onRecovered: () => (recovered += 1),
    });
    const built = await routes.get();
    expect(built.models.find((m) => m.name === 'chat')?.instances.map((i) => i.id)).toEqual([first.id]);
    expect(routes.storeFailing).toBe(false);

    db.mode = 'down';
    await expect.poll(() => Date.now() - built.builtAtMs > 20).toBe(true);
    // The rebuild fails: the last table is answered, by get() and by refresh().
    expect(await routes.get()).toBe(built);
    expect(routes.storeFailing).toBe(true);
    expect(await routes.refresh()).toBe(built);

    // A store that does not answer at all never holds a request up; its build gives up after 200 ms.
    db.mode = 'hang';
    const started = Date.now();
    for (let i = 0; i < 5; i++) expect(await routes.get()).toBe(built);
    expect(Date.now() - started).toBeLessThan(150);
    expect(await routes.refresh()).toBe(built);
    expect(Date.now() - started).toBeGreaterThanOrEqual(150);

    // The store is back: a change made meanwhile shows up through the background rebuild.
    db.mode = 'up';
    const second = await addExternal('other');
    await expect
      .poll(async () => (await routes.get()).models.map((m) => m.name).sort(), {
        timeout: 5000,
        interval: 30,
      })
      .toEqual(['chat', 'other']);
    expect(routes.storeFailing).toBe(false);
    expect(recovered).toBe(1);
    expect((await routes.get()).models.find((m) => m.name === 'other')?.instances[0]?.id).toBe(second.id);
  });

  it('throws when the store fails before any table was built (nothing to serve)', async () => {
    const db = switchable(real);
    db.mode = 'down';
    const routes = new StoreRouteSource(db.store, { maxAgeMs: 20 });
    await expect(routes.get()).rejects.toMatchObject({ code: 'store_unavailable' });
  });

  it('answers every concurrent lookup of a cached key from the cache while the store fails', async () => {
    await real.createApiKey({ name: 'app', keyHash: hashSecret('ef_key_app'), role: 'inference' });
    const db = switchable(real);
    const clock = { now: 1_000_000 };
    const lookup = new StoreKeyLookup({
      store: db.store,
      cacheMs: 1000,
      staleMs: 60_000,
      now: () => clock.now,
    });
    expect((await lookup.lookup('ef_key_app'))?.name).toBe('app');

    db.mode = 'down';
    clock.now += 2000;
    // Eight requests at once share one failing load; each gets the cached principal.
    const answers = await Promise.allSettled(Array.from({ length: 8 }, () => lookup.lookup('ef_key_app')));
    expect(answers.map((a) => (a.status === 'fulfilled' ? a.value?.name : String(a.reason)))).toEqual(
      Array.from({ length: 8 }, () => 'app'),
    );
    // Again later, while it still fails (the stale answer is kept as the fallback).
    clock.now += 5000;
    const again = await Promise.allSettled(Array.from({ length: 4 }, () => lookup.lookup('ef_key_app')));
    expect(again.every((a) => a.status === 'fulfilled' && a.value?.name === 'app')).toBe(true);
    await expect(lookup.lookup('ef_key_unseen')).rejects.toMatchObject({ code: 'store_unavailable' });

    // Back: a revocation made meanwhile takes effect at the next load.
    db.mode = 'up';
    const key = (await real.listApiKeys()).find((k) => k.name === 'app')!;
    await real.revokeApiKey(key.id);
    clock.now += 1000;
    expect(await lookup.lookup('ef_key_app')).toBeNull();
  });

  it('reports the store on /health: degraded while it fails or hangs, ok again after', async () => {
    const db = switchable(real);
    const control = new ControlServer({
      store: db.store,
      log: pino({ level: 'silent' }),
      storeHealthTimeoutMs: 300,
    });
    control.server.listen(0, '127.0.0.1');
    await once(control.server, 'listening');
    const url = `http://127.0.0.1:${(control.server.address() as AddressInfo).port}/health`;
    const health = async () => {
      const response = await fetch(url);
      return { status: response.status, body: (await response.json()) as Record<string, unknown> };
    };
    try {
      expect(await health()).toEqual({ status: 200, body: { status: 'ok' } });
      db.mode = 'down';
      expect(await health()).toEqual({
        status: 200,
        body: { status: 'degraded', store: { ok: false, error: expect.stringContaining('ECONNREFUSED') } },
      });
      db.mode = 'hang';
      expect(await health()).toEqual({
        status: 200,
        body: { status: 'degraded', store: { ok: false, error: 'no answer within 300 ms' } },
      });
      db.mode = 'up';
      expect(await health()).toEqual({ status: 200, body: { status: 'ok' } });
    } finally {
      await new Promise<void>((resolve) => control.server.close(() => resolve()));
    }
  });
});
