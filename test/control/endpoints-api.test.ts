import { readFile } from 'node:fs/promises';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EndpointProber } from '../../src/control/server/endpoint-prober.js';
import { InstanceLoads } from '../../src/control/server/instance-loads.js';
import { buildRouteTable } from '../../src/control/server/route-table.js';
import { PostgresTestDatabases } from '../store/postgres-test-databases.js';
import { waitFor } from '../helpers/edgefleet-process.js';
import { closeServers, listen } from '../helpers/http-servers.js';
import { startOpenAiUpstream, type OpenAiUpstream } from './openai-upstream.js';
import { errorCode, listOf, startHarness, type Harness } from './server-harness.js';

const databases = new PostgresTestDatabases();

describe.each([
  ['SQLite', false],
  ['PostgreSQL', true],
])('external endpoints over the management API (%s)', (_name, postgres) => {
  let h: Harness;
  let upstream: OpenAiUpstream | undefined;

  beforeAll(async () => {
    let databaseUrl: string | undefined;
    if (postgres) {
      await databases.connect();
      databaseUrl = await databases.fresh();
    }
    h = await startHarness(databaseUrl);
  });
  afterAll(async () => {
    await upstream?.close();
    await h?.close();
    if (postgres) await databases.dropAll();
  });

  it('adds, lists and removes endpoints; the upstream key is never answered', async () => {
    const created = await h.call('POST', '/api/v1/endpoints', {
      body: {
        model: 'team-vllm',
        url: 'http://10.1.2.3:8000/v1/',
        site: 'room-9',
        apiKey: 'sk-team-secret',
        upstreamModel: 'Qwen/Qwen2.5-7B-Instruct',
      },
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    expect(created.body).toMatchObject({
      object: 'endpoint',
      model: 'team-vllm',
      url: 'http://10.1.2.3:8000',
      site: 'room-9',
      hasApiKey: true,
      upstreamModel: 'Qwen/Qwen2.5-7B-Instruct',
      health: 'unknown',
      lastCheckAtMs: null,
    });
    const id = created.body['id'] as string;
    // The site was created by name.
    expect(listOf((await h.call('GET', '/api/v1/sites')).body).map((s) => s['name'])).toContain('room-9');
    const listed = await h.call('GET', '/api/v1/endpoints');
    expect(listOf(listed.body)).toEqual([created.body]);
    const one = await h.call('GET', `/api/v1/endpoints/${id}`);
    expect(one.body).toEqual(created.body);
    for (const answer of [created, listed, one])
      expect(JSON.stringify(answer.body)).not.toContain('sk-team-secret');
    // …but it is stored, to be sent upstream.
    expect((await h.store.getEndpoint(id))?.apiKey).toBe('sk-team-secret');
    // A rotated key, in place: the same id, still never answered.
    const rotated = await h.call('PATCH', `/api/v1/endpoints/${id}`, { body: { apiKey: 'sk-rotated' } });
    expect(rotated.status, JSON.stringify(rotated.body)).toBe(200);
    expect(rotated.body).toMatchObject({ id, hasApiKey: true, upstreamModel: 'Qwen/Qwen2.5-7B-Instruct' });
    expect(JSON.stringify(rotated.body)).not.toContain('sk-rotated');
    expect((await h.store.getEndpoint(id))?.apiKey).toBe('sk-rotated');
    const cleared = await h.call('PATCH', `/api/v1/endpoints/${id}`, { body: { upstreamModel: null } });
    expect(cleared.body).toMatchObject({ upstreamModel: null, hasApiKey: true });
    for (const [body, status] of [
      [{}, 400],
      [{ apiKey: 'a\nb' }, 400],
      [{ model: 'renamed' }, 400],
    ] as const) {
      expect((await h.call('PATCH', `/api/v1/endpoints/${id}`, { body })).status, JSON.stringify(body)).toBe(
        status,
      );
    }
    expect((await h.call('PATCH', '/api/v1/endpoints/nope', { body: { apiKey: 'k' } })).status).toBe(404);
    await h.call('PATCH', `/api/v1/endpoints/${id}`, { body: { upstreamModel: 'Qwen/Qwen2.5-7B-Instruct' } });
    const restored = await h.call('PATCH', `/api/v1/endpoints/${id}`, { body: { apiKey: 'sk-team-secret' } });
    expect(restored.status).toBe(200);

    const twice = await h.call('POST', '/api/v1/endpoints', {
      body: { model: 'team-vllm', url: 'http://10.1.2.3:8000', site: 'room-9' },
    });
    expect(twice.status).toBe(409);

    const removed = await h.call('DELETE', `/api/v1/endpoints/${id}`);
    expect(removed).toEqual({ status: 200, body: { id, object: 'endpoint', deleted: true } });
    expect(listOf((await h.call('GET', '/api/v1/endpoints')).body)).toEqual([]);
    expect((await h.call('DELETE', `/api/v1/endpoints/${id}`)).status).toBe(404);
  });

  it('refuses bad URLs and bodies with 400, and non-admin keys', async () => {
    const base = { model: 'm', url: 'http://10.0.0.1:8000', site: 'room-1' };
    const bad: [Record<string, unknown>, string][] = [
      [{ ...base, url: 'ftp://10.0.0.1/' }, 'url'],
      [{ ...base, url: 'http://user:pw@10.0.0.1:8000' }, 'url'],
      [{ ...base, url: 'not a url' }, 'url'],
      [{ ...base, url: 'http://10.0.0.1:8000/v1?x=1' }, 'url'],
      [{ ...base, model: 'bad name!' }, 'model'],
      [{ ...base, site: '' }, 'site'],
      [{ ...base, region: '' }, 'region'],
      [{ model: 'm', site: 'room-1' }, 'url'],
      [{ ...base, apiKey: '' }, 'apiKey'],
      // A line break would split the header it is sent in (and its error would quote the key).
      [{ ...base, apiKey: 'sk-a\r\nX-Injected: 1' }, 'apiKey'],
      [{ ...base, apiKey: 'sk a' }, 'apiKey'],
      [{ ...base, apiKey: 'sk-“quoted”' }, 'apiKey'],
    ];
    for (const [body, param] of bad) {
      const answer = await h.call('POST', '/api/v1/endpoints', { body });
      expect(answer.status, JSON.stringify(body)).toBe(400);
      expect((answer.body['error'] as { param?: string }).param, JSON.stringify(body)).toBe(param);
    }
    const extra = await h.call('POST', '/api/v1/endpoints', { body: { ...base, zone: 'x' } });
    expect(errorCode(extra.body)).toBe('unsupported_parameter');
    expect(listOf((await h.call('GET', '/api/v1/endpoints')).body)).toEqual([]);
    expect((await h.call('GET', '/api/v1/endpoints', { key: h.inferenceKey })).status).toBe(403);
    expect((await h.call('PUT', '/api/v1/endpoints')).status).toBe(405);
  });

  it('routes to an endpoint once its health check passes, and drops it when the upstream stops', async () => {
    upstream = await startOpenAiUpstream('sk-upstream', 'external-llm');
    const prober = new EndpointProber({ store: h.store, log: pino({ level: 'silent' }), timeoutMs: 1000 });
    const wrongKey = await h.call('POST', '/api/v1/endpoints', {
      body: { model: 'wrong-key-llm', url: `${upstream.url}/v1`, site: 'room-ext', apiKey: 'sk-wrong' },
    });
    const created = await h.call('POST', '/api/v1/endpoints', {
      body: {
        model: 'external-llm',
        url: `${upstream.url}/`,
        site: 'room-ext',
        apiKey: 'sk-upstream',
        upstreamModel: 'served-name',
      },
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const id = created.body['id'] as string;

    // Not checked yet: the model is listed, with no instance to route to.
    const before = (await buildRouteTable(h.store)).models.find((m) => m.name === 'external-llm');
    expect(before).toMatchObject({ status: 'degraded', instances: [] });

    await prober.probeOnce();
    expect(upstream.authorizations).toEqual(
      expect.arrayContaining(['Bearer sk-upstream', 'Bearer sk-wrong']),
    );
    const endpoints = listOf((await h.call('GET', '/api/v1/endpoints')).body);
    expect(endpoints.find((e) => e['id'] === id)).toMatchObject({ health: 'healthy', lastError: null });
    expect(endpoints.find((e) => e['id'] === wrongKey.body['id'])).toMatchObject({
      health: 'unhealthy',
      lastError: expect.stringMatching(/401/) as unknown,
    });
    const healthy = (await buildRouteTable(h.store)).models.find((m) => m.name === 'external-llm');
    expect(healthy).toMatchObject({ status: 'running', statusReason: null });
    expect(healthy?.instances).toEqual([
      expect.objectContaining({
        id,
        nodeId: 'external',
        nodeName: 'external',
        siteName: 'room-ext',
        url: upstream.url,
        apiKey: 'sk-upstream',
        upstreamModel: 'served-name',
      }),
    ]);

    await upstream.close();
    upstream = undefined;
    await prober.probeOnce();
    const down = (await buildRouteTable(h.store)).models.find((m) => m.name === 'external-llm');
    expect(down?.instances).toEqual([]);
    expect(down?.statusReason).toMatch(/unhealthy: GET \/v1\/models failed: ECONNREFUSED/);
    expect((await h.store.getEndpoint(id))?.health).toBe('unhealthy');
    await prober.stop();
  });

  it("reads an endpoint's engine load from its metrics into the route table", async () => {
    // A real vLLM v1 page: two engines (running 5 + 3, waiting 2 + 0, KV use 0.625 and 0.375).
    const vllmPage = await readFile(
      new URL('../fixtures/engines/vllm-v1-metrics.txt', import.meta.url),
      'utf8',
    );
    const vllm = await startOpenAiUpstream('sk-a', 'loaded-llm', vllmPage);
    const plain = await startOpenAiUpstream(
      'sk-b',
      'loaded-llm',
      '# no engine here\nhttp_requests_total 7\n',
    );
    try {
      const loads = new InstanceLoads();
      const prober = new EndpointProber({ store: h.store, log: pino({ level: 'silent' }), loads });
      const add = async (url: string, apiKey: string) =>
        (
          await h.call('POST', '/api/v1/endpoints', {
            body: { model: 'loaded-llm', url, site: 'room-load', apiKey },
          })
        ).body['id'] as string;
      const withLoad = await add(vllm.url, 'sk-a');
      // A region given with the endpoint is its site's (a worker's --region does the same).
      await h.call('POST', '/api/v1/endpoints', {
        body: { model: 'regional-llm', url: plain.url, site: 'room-load', region: 'north', apiKey: 'sk-b' },
      });
      const without = await add(plain.url, 'sk-b');
      await prober.probeOnce();
      expect(vllm.authorizations.filter((a) => a === 'Bearer sk-a').length).toBe(2); // models, metrics
      const table = await buildRouteTable(h.store, Date.now(), loads);
      const instances = table.models.find((m) => m.name === 'loaded-llm')?.instances ?? [];
      expect(instances.find((i) => i.id === withLoad)?.load).toEqual({
        requestsRunning: 8,
        requestsWaiting: 2,
        kvCacheUsage: 0.5,
        atMs: expect.any(Number) as unknown,
      });
      expect(instances.find((i) => i.id === without)).toBeDefined();
      expect(instances.every((i) => i.region === 'north')).toBe(true);
      const regional = table.models.find((m) => m.name === 'regional-llm');
      expect(regional?.instances[0]).toMatchObject({ siteName: 'room-load', region: 'north' });
      expect(instances.find((i) => i.id === without)?.load).toBeUndefined();
      await prober.stop();
      const all = listOf((await h.call('GET', '/api/v1/endpoints')).body);
      for (const e of all.filter((e) => e['site'] === 'room-load'))
        await h.call('DELETE', `/api/v1/endpoints/${String(e['id'])}`);
    } finally {
      await vllm.close();
      await plain.close();
    }
  });

  it('merges endpoints into the deployment of the same name', async () => {
    const deployment = await h.store.createDeployment({
      name: 'shared-name',
      modelRef: 'x.gguf',
      replicas: 1,
    });
    const site = await h.store.upsertSite({ name: 'room-ext' });
    const endpoint = await h.store.createEndpoint({
      model: 'shared-name',
      url: 'http://10.9.9.9:1',
      siteId: site.id,
    });
    await h.store.recordEndpointCheck(endpoint.id, { healthy: true });
    const models = (await buildRouteTable(h.store)).models.filter((m) => m.name === 'shared-name');
    expect(models).toHaveLength(1);
    expect(models[0]).toMatchObject({ deploymentId: deployment.id, status: 'pending' });
    expect(models[0]?.instances).toEqual([
      expect.objectContaining({ id: endpoint.id, deploymentId: deployment.id, nodeId: 'external' }),
    ]);
    expect(models[0]?.instances[0]).not.toHaveProperty('apiKey');
  });
});

describe('health checks of a registered or changed endpoint', () => {
  it('checks an endpoint at once when it is added or its key changes, not at the next round', async () => {
    const upstream = await startOpenAiUpstream('sk-upstream', 'prompt-llm');
    const wired: { prober?: EndpointProber } = {};
    const h = await startHarness(undefined, { endpointsChanged: () => void wired.prober?.checkNow() });
    // Rounds a minute apart: after the first (an empty store), only the changes can start a check.
    const prober = new EndpointProber({ store: h.store, log: pino({ level: 'silent' }), intervalMs: 60_000 });
    wired.prober = prober;
    try {
      prober.start();
      await prober.probeOnce();
      const healthOf = async (id: string) =>
        listOf((await h.call('GET', '/api/v1/endpoints')).body).find((e) => e['id'] === id)?.['health'];
      const becomes = (id: string, health: string) =>
        waitFor(
          async () => ((await healthOf(id)) === health ? true : undefined),
          5000,
          `${id} to be ${health}`,
        );
      const created = await h.call('POST', '/api/v1/endpoints', {
        body: { model: 'prompt-llm', url: upstream.url, site: 'room-now', apiKey: 'sk-wrong' },
      });
      expect(created.status, JSON.stringify(created.body)).toBe(201);
      const id = created.body['id'] as string;
      await becomes(id, 'unhealthy');
      const fixed = await h.call('PATCH', `/api/v1/endpoints/${id}`, { body: { apiKey: 'sk-upstream' } });
      expect(fixed.status).toBe(200);
      await becomes(id, 'healthy');
      expect(upstream.authorizations.filter((a) => a === 'Bearer sk-upstream').length).toBeGreaterThan(0);
      // The control plane's metrics count endpoints by health.
      const metrics = await (
        await fetch(`${h.baseUrl}/metrics`, { headers: { authorization: `Bearer ${h.adminKey}` } })
      ).text();
      expect(metrics).toContain('edgefleet_endpoints{health="healthy"} 1');
      expect(metrics).toContain('edgefleet_endpoints{health="unhealthy"} 0');
    } finally {
      await prober.stop();
      await h.close();
      await upstream.close();
    }
  });

  it('checks once more after a check in flight, which may have read the endpoints before the change', async () => {
    // /v1/models answers after 300 ms, so the first check is still running when the key changes.
    const keys: (string | undefined)[] = [];
    const slow = await listen((request, response) => {
      keys.push(request.headers.authorization);
      setTimeout(() => {
        response.statusCode = request.headers.authorization === 'Bearer right' ? 200 : 401;
        response.end('{}');
      }, 300);
    });
    const h = await startHarness();
    const prober = new EndpointProber({ store: h.store, log: pino({ level: 'silent' }), intervalMs: 60_000 });
    try {
      const created = await h.call('POST', '/api/v1/endpoints', {
        body: { model: 'slow-llm', url: slow, site: 'room-slow', apiKey: 'wrong' },
      });
      const id = created.body['id'] as string;
      prober.start(); // its first round starts now and reads the wrong key
      await waitFor(async () => (keys.length > 0 ? true : undefined), 5000, 'the first check');
      expect(keys).toEqual(['Bearer wrong']);
      await h.store.updateEndpoint(id, { apiKey: 'right' });
      await Promise.all([prober.checkNow(), prober.checkNow()]); // two changes, one more check
      expect(keys).toEqual(['Bearer wrong', 'Bearer right']);
      expect((await h.store.getEndpoint(id))?.health).toBe('healthy');
    } finally {
      await prober.stop();
      await h.close();
      await closeServers();
    }
  });
});
