import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { StoreKeyLookup } from '../../src/control/server/key-lookup.js';
import { storeUsageEvents } from '../../src/control/server/usage-sink.js';
import { sendError } from '../../src/http/respond.js';
import type { KeyPrincipal } from '../../src/spec/api-keys.js';
import type { RouteTable } from '../../src/spec/route-table.js';
import { KeyGuard } from '../../src/gateway/auth/key-guard.js';
import { LocalRateLimiter } from '../../src/gateway/auth/local-rate-limiter.js';
import { FleetGateway, type RouteSource } from '../../src/gateway/fleet-gateway.js';
import { ControlPlaneClient } from '../../src/gateway/sync/control-plane-client.js';
import { HttpKeyLookup } from '../../src/gateway/sync/http-key-lookup.js';
import { closeServers, listen } from '../helpers/http-servers.js';
import { routeInstance } from '../helpers/route-instance.js';
import { startHarness, type Harness } from './server-harness.js';

/**
 * A key changed with `PATCH /api/v1/keys/:id` takes effect on `/v1` without restarting anything: on the
 * server's own gateway (its store lookup, cached per key) once the cache time has passed, and on a room
 * gateway (the key list it pulls from the control plane) at its next pull.
 */
const log = pino({ level: 'silent' });
/** Every answer of the engine counts 15 tokens. */
const tokensPerAnswer = 15;

describe('a key changed over the management API, as the gateways see it', () => {
  let h: Harness;
  let engineUrl: string;
  const cleanups: (() => unknown)[] = [];

  beforeAll(async () => {
    h = await startHarness();
  });
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
    await closeServers();
  });
  afterAll(async () => {
    await h?.close();
  });

  /** A gateway on 127.0.0.1 serving model `chat` from one engine that reports its usage. */
  async function startGateway(lookup: (secret: string) => Promise<KeyPrincipal | null>) {
    engineUrl = await listen((request, response) => {
      request.resume().on('end', () => {
        response.writeHead(200, { 'content-type': 'application/json' });
        response.end(JSON.stringify({ choices: [], usage: { prompt_tokens: 10, completion_tokens: 5 } }));
      });
    });
    const table: RouteTable = {
      builtAtMs: Date.now(),
      models: [
        {
          name: 'chat',
          deploymentId: 'd1',
          status: 'running',
          statusReason: null,
          createdAtMs: 0,
          instances: [routeInstance('a', engineUrl)],
        },
      ],
    };
    const routes: RouteSource = { get: async () => table, refresh: async () => table };
    // The rpm window stands still: only the limits change in these tests.
    const limiter = new LocalRateLimiter(() => 1_000_000);
    const guard = new KeyGuard({ lookup, limiter, log });
    const gateway = new FleetGateway({
      routes,
      log,
      maxBodyBytes: 64 * 1024,
      upstreamWaitMs: 300,
      guard,
      // As the server's journal shipper does: into the ledger, then told to the guard.
      recordUsage: async (event) => {
        await storeUsageEvents(h.store, [event]);
        guard.stored([event]);
      },
    });
    const url = await listen((request, response) => {
      const path = (request.url ?? '/').split('?')[0]!;
      gateway.handle(request, response, path).catch((error: unknown) => sendError(response, error));
    });
    /** The status of one chat request with `secret`, and its error message if any. */
    return async (secret: string) => {
      const answer = await fetch(`${url}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${secret}` },
        body: JSON.stringify({ model: 'chat', messages: [{ role: 'user', content: 'hi' }] }),
      });
      const body = (await answer.json()) as { error?: { message: string } };
      // The tokens are counted as the answer ends: let that happen before the next request.
      await new Promise((resolve) => setTimeout(resolve, 30));
      return `${answer.status}${body.error ? ` ${body.error.message}` : ''}`;
    };
  }

  async function createKey(body: Record<string, unknown>) {
    const created = await h.call('POST', '/api/v1/keys', { body });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    return { id: created.body['id'] as string, secret: created.body['key'] as string };
  }

  async function patchKey(id: string, body: Record<string, unknown>) {
    const patched = await h.call('PATCH', `/api/v1/keys/${id}`, { body });
    expect(patched.status, JSON.stringify(patched.body)).toBe(200);
    return patched.body;
  }

  it('server gateway: a raised token budget lets a key that got 429 through again, once the cache time passed', async () => {
    const clock = { now: 5_000_000 };
    const lookup = new StoreKeyLookup({ store: h.store, cacheMs: 5000, now: () => clock.now });
    const chat = await startGateway(lookup.lookup);
    const { id, secret } = await createKey({ name: 'budgeted', tokenBudget: tokensPerAnswer });

    expect(await chat(secret)).toBe('200');
    expect(await chat(secret)).toBe(
      `429 API key "budgeted" has used its token budget (15 of ${tokensPerAnswer} tokens)`,
    );
    expect(await patchKey(id, { tokenBudget: 3 * tokensPerAnswer })).toMatchObject({
      tokenBudget: 45,
      tokensUsed: 15,
    });
    // The gateway's key cache still holds the old budget for up to its 5 s…
    clock.now += 4000;
    expect(await chat(secret)).toMatch(/^429 .*15 of 15 tokens/);
    // …then the new one applies: two more answers, and the budget is spent again.
    clock.now += 1000;
    expect(await chat(secret)).toBe('200');
    clock.now += 5000;
    expect(await chat(secret)).toBe('200');
    clock.now += 5000;
    expect(await chat(secret)).toBe('429 API key "budgeted" has used its token budget (45 of 45 tokens)');
    // No budget at all.
    await patchKey(id, { tokenBudget: null });
    clock.now += 5000;
    expect(await chat(secret)).toBe('200');
  });

  it('server gateway: a raised rpm and a widened allow-list apply without a restart', async () => {
    const clock = { now: 9_000_000 };
    const lookup = new StoreKeyLookup({ store: h.store, cacheMs: 5000, now: () => clock.now });
    const chat = await startGateway(lookup.lookup);
    const { id, secret } = await createKey({ name: 'paced', rpm: 1, models: ['embed'] });

    expect(await chat(secret)).toBe('403 API key "paced" may not use the model "chat" (allowed: embed)');
    await patchKey(id, { models: ['embed', 'chat'] });
    clock.now += 5000;
    expect(await chat(secret)).toBe('200');
    expect(await chat(secret)).toMatch(/^429 API key "paced" reached its limit of 1 requests per minute/);
    await patchKey(id, { rpm: 3 });
    clock.now += 5000;
    expect([await chat(secret), await chat(secret)]).toEqual(['200', '200']);
    expect(await chat(secret)).toMatch(/^429 .*limit of 3 requests per minute/);
  });

  it('room gateway: the key list it pulls carries the new budget, so the key works again after a pull', async () => {
    const home = await mkdtemp(join(tmpdir(), 'ef-key-update-'));
    cleanups.push(() => rm(home, { recursive: true, force: true }));
    const client = new ControlPlaneClient({ serverUrl: h.baseUrl, apiKey: h.adminKey });
    cleanups.push(() => client.close());
    const keys = new HttpKeyLookup({ client, cachePath: join(home, 'keys.json'), log, pollMs: 200 });
    cleanups.push(() => keys.stop());
    await keys.start();
    const chat = await startGateway(keys.lookup);
    const { id, secret } = await createKey({ name: 'roomed', tokenBudget: tokensPerAnswer });

    expect(await chat(secret)).toBe('200');
    expect(await chat(secret)).toMatch(/^429 API key "roomed" has used its token budget/);
    await patchKey(id, { tokenBudget: 2 * tokensPerAnswer });
    await expect.poll(() => chat(secret), { timeout: 5000, interval: 100 }).toBe('200');
    // Spent again (a pull that read the ledger while it was stored may count an answer twice: early, not late).
    expect(await chat(secret)).toMatch(
      /^429 API key "roomed" has used its token budget \(\d+ of 30 tokens\)/,
    );
  });
});
