import { createServer, type Server } from 'node:http';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import type { GatewayKeysResponse } from '../../spec/gateway-sync.js';
import type { RouteTable } from '../../spec/route-table.js';
import { ControlPlaneClient } from './control-plane-client.js';
import { hashSecret } from '../../http/bearer-secret.js';
import { HttpKeyLookup } from './http-key-lookup.js';
import { HttpRouteSource } from './http-route-source.js';
import { testPrincipal } from '../../../test/helpers/principals.js';

const log = pino({ level: 'silent' });

const table: RouteTable = {
  builtAtMs: 1,
  models: [
    {
      name: 'tiny',
      deploymentId: 'd1',
      status: 'running',
      statusReason: null,
      createdAtMs: 1,
      instances: [
        {
          id: 'i1',
          deploymentId: 'd1',
          nodeId: 'n1',
          nodeName: 'node-1',
          siteId: 's1',
          siteName: 'north',
          region: null,
          url: 'http://127.0.0.1:1',
        },
      ],
    },
  ],
};

const keyEntry = (secret: string, keyId: string) => ({
  keyHash: hashSecret(secret),
  ...testPrincipal(keyId),
});

/**
 * A fake control plane: `mode` decides whether it answers, refuses with 503, or hangs (accepts the
 * request and never answers, as a black-holed link does).
 */
async function fakeControlPlane() {
  const state = {
    mode: 'up' as 'up' | 'down' | 'hang' | 'refuse',
    keys: [] as ReturnType<typeof keyEntry>[],
    hits: 0,
    authorization: '',
  };
  const server: Server = createServer((request, response) => {
    state.hits += 1;
    state.authorization = request.headers.authorization ?? '';
    if (state.mode === 'hang') return;
    if (state.mode === 'refuse') {
      response.writeHead(401, { 'content-type': 'application/json' });
      response.end(JSON.stringify({ error: { code: 'unauthorized', message: 'API key revoked' } }));
      return;
    }
    if (state.mode === 'down') {
      response.writeHead(503, { 'content-type': 'application/json' });
      response.end(JSON.stringify({ error: { code: 'store_unavailable', message: 'down' } }));
      return;
    }
    const body: RouteTable | GatewayKeysResponse =
      request.url === '/api/v1/gateway/routes'
        ? table
        : { object: 'list', builtAtMs: Date.now(), data: state.keys };
    response.writeHead(200, { 'content-type': 'application/json' });
    response.end(JSON.stringify(body));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    state,
    url,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

describe('per-room gateway sync', () => {
  const cleanups: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  const setup = async () => {
    const plane = await fakeControlPlane();
    const home = await mkdtemp(join(tmpdir(), 'ef-sync-'));
    cleanups.push(() => rm(home, { recursive: true, force: true }), plane.close);
    const client = new ControlPlaneClient({
      serverUrl: `${plane.url}/`,
      apiKey: 'ef_admin_x',
      timeoutMs: 500,
    });
    return { plane, home, client };
  };

  it('keeps the last route table when the control plane fails, never stalling refresh()', async () => {
    const { plane, home, client } = await setup();
    const routes = new HttpRouteSource({
      client,
      cachePath: join(home, 'gateway-cache', 'routes.json'),
      log,
      pollMs: 60_000,
      pullTimeoutMs: 5000,
      refreshWaitMs: 300,
    });
    cleanups.push(() => routes.stop());
    await routes.start();
    expect(plane.state.authorization).toBe('Bearer ef_admin_x');
    expect(routes).toMatchObject({ reachable: true, origin: 'control-plane' });
    expect((await routes.get()).models[0]?.instances[0]?.siteName).toBe('north');

    plane.state.mode = 'hang';
    const startedAt = Date.now();
    const refreshed = await routes.refresh();
    expect(Date.now() - startedAt).toBeLessThan(1500);
    expect(refreshed.models.map((m) => m.name)).toEqual(['tiny']);

    // Saved atomically for a restart while the control plane is down.
    plane.state.mode = 'down';
    const saved = JSON.parse(await readFile(join(home, 'gateway-cache', 'routes.json'), 'utf8')) as {
      table: RouteTable;
    };
    expect(saved.table.models[0]?.name).toBe('tiny');
    const restarted = new HttpRouteSource({
      client,
      cachePath: join(home, 'gateway-cache', 'routes.json'),
      log,
    });
    cleanups.push(() => restarted.stop());
    await restarted.start();
    expect(restarted).toMatchObject({ reachable: false, origin: 'disk-cache' });
    expect((await restarted.get()).models[0]?.instances).toHaveLength(1);
    expect(restarted.ageMs()).toBeGreaterThanOrEqual(0);
  });

  it('looks keys up by hash, pulls on an unknown key, drops revoked keys and serves from disk', async () => {
    const { plane, home, client } = await setup();
    plane.state.keys = [keyEntry('ef_key_a', 'a')];
    const cachePath = join(home, 'gateway-cache', 'keys.json');
    const keys = new HttpKeyLookup({ client, cachePath, log, pollMs: 60_000, missPullMs: 0 });
    cleanups.push(() => keys.stop());
    await keys.start();
    expect(await keys.lookup('ef_key_a')).toMatchObject({ keyId: 'a', role: 'inference' });
    expect(await keys.lookup('ef_key_b')).toBeNull();
    expect((await stat(cachePath)).mode & 0o777).toBe(0o600);
    expect(await readFile(cachePath, 'utf8')).not.toContain('ef_key_a');

    // A key created a moment ago works at once; a revoked one stops at the next pull.
    plane.state.keys = [keyEntry('ef_key_b', 'b')];
    expect(await keys.lookup('ef_key_b')).toMatchObject({ keyId: 'b' });
    expect(await keys.lookup('ef_key_a')).toBeNull();

    // Control plane down: a new lookup serves from the disk cache.
    plane.state.mode = 'down';
    const restarted = new HttpKeyLookup({ client, cachePath, log, pollMs: 60_000 });
    cleanups.push(() => restarted.stop());
    await restarted.start();
    expect(await restarted.lookup('ef_key_b')).toMatchObject({ keyId: 'b' });
    expect(await restarted.lookup('ef_key_a')).toBeNull();
  });

  it('pulls for a key created just after a regular pull, and dates the ledger totals by the pull', async () => {
    const { plane, home, client } = await setup();
    plane.state.keys = [keyEntry('ef_key_a', 'a')];
    // The default missPullMs (1 s): the regular pull of start() is only a moment old.
    const keys = new HttpKeyLookup({ client, cachePath: join(home, 'keys.json'), log, pollMs: 60_000 });
    cleanups.push(() => keys.stop());
    const startedAtMs = Date.now();
    await keys.start();
    const hits = plane.state.hits;
    plane.state.keys = [keyEntry('ef_key_a', 'a'), keyEntry('ef_key_new', 'new')];
    const found = await keys.lookup('ef_key_new');
    expect(found).toMatchObject({ keyId: 'new' });
    expect(plane.state.hits).toBe(hits + 1);
    expect(found!.tokensUsedAtMs).toBeGreaterThanOrEqual(startedAtMs);
    // Unknown secrets pull at most once per missPullMs: those that come within it share the next pull.
    const waitedFrom = Date.now();
    const misses = await Promise.all(['x', 'y', 'z'].map((s) => keys.lookup(`ef_key_nobody_${s}`)));
    expect(misses).toEqual([null, null, null]);
    expect(plane.state.hits).toBe(hits + 2);
    expect(Date.now() - waitedFrom).toBeGreaterThanOrEqual(500);
  });

  it("finds a new key for every request of a burst, and after other unknown secrets' pulls", async () => {
    const { plane, home, client } = await setup();
    plane.state.keys = [keyEntry('ef_key_a', 'a')];
    const keys = new HttpKeyLookup({ client, cachePath: join(home, 'keys.json'), log, pollMs: 60_000 });
    cleanups.push(() => keys.stop());
    await keys.start();
    await new Promise((resolve) => setTimeout(resolve, 1100)); // past missPullMs
    plane.state.keys = [keyEntry('ef_key_a', 'a'), keyEntry('ef_key_b', 'b')];
    // Eight requests at once with a key the gateway has not pulled yet: one pull, every one finds it.
    const burst = await Promise.all(Array.from({ length: 8 }, () => keys.lookup('ef_key_b')));
    expect(burst.map((p) => p?.keyId)).toEqual(Array(8).fill('b'));
    // Someone sends a bad key; a key created just after it still works on its first request.
    expect(await keys.lookup('ef_key_bad')).toBeNull();
    plane.state.keys = [...plane.state.keys, keyEntry('ef_key_c', 'c')];
    expect(await keys.lookup('ef_key_c')).toMatchObject({ keyId: 'c' });
  });

  it('checks no key once the control plane refuses its own key, until a pull is accepted again', async () => {
    const { plane, home, client } = await setup();
    plane.state.keys = [keyEntry('ef_key_a', 'a')];
    const keys = new HttpKeyLookup({ client, cachePath: join(home, 'keys.json'), log, pollMs: 60_000 });
    cleanups.push(() => keys.stop());
    await keys.start();
    expect(await keys.lookup('ef_key_a')).toMatchObject({ keyId: 'a' });
    // The gateway's key is revoked: its cached list could hold keys revoked since, so it fails closed.
    plane.state.mode = 'refuse';
    const refused = { code: 'store_unavailable', message: expect.stringMatching(/own key was refused/) };
    await expect(keys.lookup('ef_key_unknown')).rejects.toMatchObject(refused); // its pull got the 401
    expect(client.credentialRefused).toMatch(/revoked/);
    await expect(keys.lookup('ef_key_a')).rejects.toMatchObject(refused); // known, but not trusted now
    plane.state.mode = 'up';
    await new Promise((resolve) => setTimeout(resolve, 1000)); // missPullMs
    expect(await keys.lookup('ef_key_a')).toMatchObject({ keyId: 'a' }); // asked again, and accepted
    expect(client.credentialRefused).toBeNull();
  });

  it('answers 503 rather than 401 before any key list was ever loaded', async () => {
    const { plane, home, client } = await setup();
    plane.state.mode = 'down';
    const keys = new HttpKeyLookup({ client, cachePath: join(home, 'keys.json'), log, pollMs: 60_000 });
    cleanups.push(() => keys.stop());
    await keys.start();
    await expect(keys.lookup('ef_key_a')).rejects.toMatchObject({ code: 'store_unavailable' });
  });
});
