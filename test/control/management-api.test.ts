import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errorCode, listOf, startHarness, type Harness } from './server-harness.js';

describe('management API', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness();
  });
  afterAll(async () => {
    await h.close();
  });

  it('answers /health without a key and /metrics in Prometheus text to an admin key', async () => {
    expect(await h.call('GET', '/health', { key: null })).toEqual({ status: 200, body: { status: 'ok' } });
    const metrics = await fetch(`${h.baseUrl}/metrics`, {
      headers: { authorization: `Bearer ${h.adminKey}` },
    });
    expect(metrics.status).toBe(200);
    expect(metrics.headers.get('content-type')).toMatch(/^text\/plain/);
    const text = await metrics.text();
    expect(text).toContain('# TYPE edgefleet_nodes gauge');
    expect(text).toContain('edgefleet_server_http_requests_total');
  });

  it('refuses the management API without a key (401), with a bad key (401) and a non-admin key (403)', async () => {
    const none = await h.call('GET', '/api/v1/nodes', { key: null });
    expect(none.status).toBe(401);
    expect(errorCode(none.body)).toBe('unauthorized');
    expect((await h.call('GET', '/api/v1/sites', { key: 'ef_admin_wrong' })).status).toBe(401);
    const inference = await h.call('GET', '/api/v1/deployments', { key: h.inferenceKey });
    expect(inference.status).toBe(403);
    expect(errorCode(inference.body)).toBe('forbidden');
    expect((await h.call('POST', '/api/v1/deployments', { key: null, body: {} })).status).toBe(401);
  });

  it('creates, lists and deletes deployments with clear 4xx errors', async () => {
    const created = await h.call('POST', '/api/v1/deployments', {
      body: { name: 'chat', model: 'deepseek-r1-distill-qwen-7b', quant: 'q4_k_m', replicas: 2 },
    });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({
      name: 'chat',
      modelRef: 'deepseek-r1-distill-qwen-7b',
      replicas: 2,
    });
    const id = created.body['id'] as string;

    const taken = await h.call('POST', '/api/v1/deployments', {
      body: { name: 'chat', model: 'deepseek-r1-distill-qwen-7b', replicas: 1 },
    });
    expect(taken.status).toBe(409);
    expect(errorCode(taken.body)).toBe('conflict');

    const unknown = await h.call('POST', '/api/v1/deployments', {
      body: { name: 'x', model: 'no-such-model', replicas: 1 },
    });
    expect(unknown.status).toBe(400);
    expect(JSON.stringify(unknown.body)).toContain('deepseek-r1-distill-qwen-7b');

    const gguf = await h.call('POST', '/api/v1/deployments', {
      body: { name: 'tiny', model: 'hf:someone/repo/tiny.gguf', replicas: 1 },
    });
    expect(gguf.status).toBe(201);

    // What could never be placed (it was accepted and stayed pending for ever) is refused, naming the field.
    for (const [body, param, said] of [
      [{ engine: 'bogus' }, 'engine', 'unknown engine "bogus"; valid ids: '],
      [{ quant: 'zzz' }, 'quant', 'unknown quantization "zzz"; valid ids: '],
      [{ model: 'ftp://x/y.gguf' }, 'model', 'ftp:// is not a way to fetch a model'],
    ] as const) {
      const never = await h.call('POST', '/api/v1/deployments', {
        body: { name: 'never', model: '/m/tiny.gguf', replicas: 1, ...body },
      });
      expect(never.status, param).toBe(400);
      expect(never.body).toMatchObject({ error: { param, message: expect.stringContaining(said) } });
    }
    // A relative path could never be placed (pending for ever): refused, asking for the absolute path.
    for (const model of ['./tiny.gguf', 'tiny.gguf', '../models/tiny.gguf']) {
      const relative = await h.call('POST', '/api/v1/deployments', {
        body: { name: 'rel', model, replicas: 1 },
      });
      expect(relative.status, model).toBe(400);
      expect(relative.body).toMatchObject({
        error: { param: 'model', message: expect.stringContaining(`model "${model}" is a relative path`) },
      });
    }

    for (const body of [
      { name: 'y', model: 'deepseek-r1', replicas: 0 },
      { name: 'y', model: 'deepseek-r1', replicas: 65 },
      { name: 'y', model: 'deepseek-r1', replicas: 1, extra: true },
      { name: 'y', model: 'deepseek-r1', replicas: 1, sites: ['nowhere'] },
    ]) {
      expect((await h.call('POST', '/api/v1/deployments', { body })).status).toBe(400);
    }
    const malformed = await h.call('POST', '/api/v1/deployments', { raw: '{"name": ' });
    expect(malformed.status).toBe(400);
    expect(errorCode(malformed.body)).toBe('invalid_json');

    const listed = await h.call('GET', '/api/v1/deployments');
    expect(listOf(listed.body).map((d) => d['name'])).toEqual(expect.arrayContaining(['chat', 'tiny']));
    expect((await h.call('DELETE', `/api/v1/deployments/${id}`)).status).toBe(200);
    expect((await h.call('DELETE', `/api/v1/deployments/${id}`)).status).toBe(404);
    expect((await h.call('GET', '/api/v1/nowhere')).status).toBe(404);
    expect((await h.call('PUT', '/api/v1/deployments')).status).toBe(405);
    expect(listOf((await h.call('GET', '/api/v1/instances?deployment=none')).body)).toEqual([]);
  });
});
