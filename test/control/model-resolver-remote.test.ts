import { once } from 'node:events';
import { readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { maxResolvedRefs, ModelResolver } from '../../src/control/server/model-resolver.js';
import type { Deployment } from '../../src/store/store-types.js';
import { makeTestModel } from '../helpers/models.js';

/**
 * ModelResolver with remote refs: a slow server does not hold up reconcile passes (only the first waits,
 * up to `waitMs`), results are cached per ref, and a failure is retried after `retryFailedMs`.
 */
let file: Buffer;
let server: Server;
let baseUrl: string;
const behaviour = { delayMs: 0, available: true, requests: 0 };

beforeAll(async () => {
  file = await readFile((await makeTestModel()).path);
  server = createServer((request, response) => {
    behaviour.requests += 1;
    if (!behaviour.available) return void response.writeHead(503).end('try later');
    setTimeout(() => {
      // Range ignored: 200 with the whole (small) file.
      response.writeHead(200, { 'content-length': file.length }).end(file);
    }, behaviour.delayMs);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

const deployment = (modelRef: string): Deployment => ({
  id: 'd1',
  name: 'd1',
  modelRef,
  quant: null,
  engine: null,
  replicas: 1,
  minReplicas: 1,
  idleTimeoutMs: 600_000,
  lastRequestAtMs: null,
  contextTokens: null,
  siteConstraints: [],
  revision: 1,
  status: 'pending',
  statusReason: null,
  createdAtMs: 0,
  updatedAtMs: 0,
});

describe('ModelResolver with remote refs', () => {
  it('waits for a slow read only once, then answers "still reading" at once until it is done', async () => {
    behaviour.delayMs = 900;
    const resolver = new ModelResolver({ waitMs: 300 });
    const ref = `${baseUrl}/slow.gguf`;
    const first = await resolver.resolve(deployment(ref));
    expect(first).toEqual({
      ok: false,
      reason: expect.stringMatching(/model size unknown yet: still reading/),
    });
    const started = Date.now();
    const second = await resolver.resolve(deployment(ref));
    expect(Date.now() - started).toBeLessThan(200);
    expect(second.ok).toBe(false);
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const done = await resolver.resolve(deployment(ref));
    expect(done).toMatchObject({ ok: true, deployment: { engine: 'llama.cpp' } });
    expect(done.ok && done.deployment.weightsBytes).toBeGreaterThan(0);
    expect(behaviour.requests).toBe(1);
    behaviour.delayMs = 0;
  });

  it('caches a failure, then tries again after retryFailedMs', async () => {
    const clock = { now: 1_000 };
    const resolver = new ModelResolver({ retryFailedMs: 60_000, now: () => clock.now });
    const ref = `${baseUrl}/flaky.gguf`;
    behaviour.available = false;
    behaviour.requests = 0;
    const failed = await resolver.resolve(deployment(ref));
    expect(failed).toEqual({ ok: false, reason: expect.stringMatching(/HTTP 503/) });
    behaviour.available = true;
    expect((await resolver.resolve(deployment(ref))).ok).toBe(false);
    expect(behaviour.requests).toBe(1);
    clock.now += 60_000;
    expect((await resolver.resolve(deployment(ref))).ok).toBe(true);
    expect((await resolver.resolve(deployment(ref))).ok).toBe(true);
    expect(behaviour.requests).toBe(2);
  });

  it('keeps the most recently resolved refs only, so previews and deleted deployments do not pile up', async () => {
    const resolver = new ModelResolver();
    const deployed = `${baseUrl}/deployed.gguf`;
    const start = behaviour.requests;
    for (let i = 0; i < maxResolvedRefs + 50; i++) {
      expect((await resolver.resolve(deployment(`${baseUrl}/preview-${i}.gguf`))).ok).toBe(true);
      // A deployment that stays is resolved at every reconcile pass: it stays cached, read once.
      if (i % 20 === 0) expect((await resolver.resolve(deployment(deployed))).ok).toBe(true);
    }
    expect(resolver.cachedRefs).toBe(maxResolvedRefs);
    expect(behaviour.requests - start).toBe(maxResolvedRefs + 50 + 1);
    // The oldest previews were dropped: one is read again when asked for.
    expect((await resolver.resolve(deployment(`${baseUrl}/preview-0.gguf`))).ok).toBe(true);
    expect(behaviour.requests - start).toBe(maxResolvedRefs + 50 + 2);
  });
});
