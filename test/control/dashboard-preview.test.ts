import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  errorCode,
  listOf,
  registerBody,
  startHarness,
  type Harness,
  type JsonObject,
} from './server-harness.js';

const detectedMemoryBytes = registerBody('', 'x', 'y').devices[0]!.memoryBytes;

describe('deployment preview (dry-run placement)', () => {
  let h: Harness;
  let nodeId: string;
  let siteId: string;

  beforeAll(async () => {
    h = await startHarness();
    const registered = await h.call('POST', '/api/v1/worker/register', {
      key: null,
      body: registerBody(await h.newJoinToken(), 'gpu-a', 'room-a', 2),
    });
    expect(registered.status).toBe(200);
    nodeId = registered.body['nodeId'] as string;
    siteId = registered.body['siteId'] as string;
  });
  afterAll(async () => {
    await h?.close();
  });

  const preview = (body: unknown, key?: string | null) =>
    h.call('POST', '/api/v1/deployments/preview', { body, ...(key !== undefined && { key }) });

  it('needs the admin key', async () => {
    const body = { name: 'x', model: 'deepseek-r1-distill-qwen-7b', replicas: 1 };
    expect((await preview(body, null)).status).toBe(401);
    expect((await preview(body, h.inferenceKey)).status).toBe(403);
  });

  it('places every replica on free devices, with the estimate, and stores nothing', async () => {
    const body = {
      name: 'chat',
      model: 'deepseek-r1-distill-qwen-7b',
      quant: 'q4_k_m',
      engine: 'llama.cpp',
      replicas: 2,
      sites: ['room-a'],
    };
    const { status, body: answer } = await preview(body);
    expect(status).toBe(200);
    expect(answer).toMatchObject({ object: 'deployment_preview', fits: true, reasons: [] });
    const placements = answer['placements'] as JsonObject[];
    expect(placements).toHaveLength(2);
    for (const placement of placements) {
      expect(placement).toMatchObject({ siteId, nodeId, engine: 'llama.cpp' });
    }
    // Spread: one replica per device.
    expect(placements.map((p) => (p['deviceIndexes'] as number[])[0]).sort()).toEqual([0, 1]);

    const estimate = answer['estimate'] as JsonObject;
    expect(estimate).toMatchObject({
      model: 'deepseek-r1-distill-qwen-7b',
      quant: 'q4_k_m',
      engine: 'llama.cpp',
      hardware: 'rtx-4090',
      count: 1,
      batch: 1,
      contextTokens: 4096,
      fits: true,
    });
    // The planner's numbers for the device as detected (its memory), otherwise the catalog's.
    const planner = await h.call('POST', '/api/v1/planner/estimate', {
      body: {
        model: body.model,
        quant: 'q4_k_m',
        engine: 'llama.cpp',
        hardware: 'rtx-4090',
        contextTokens: 4096,
      },
    });
    const memory = estimate['memory'] as JsonObject;
    expect(memory['weightsBytes']).toBe((planner.body['memory'] as JsonObject)['weightsBytes']);
    expect(memory['perDeviceBytes']).toBe((planner.body['memory'] as JsonObject)['perDeviceBytes']);
    expect(estimate['decode']).toEqual(planner.body['decode']);
    expect(memory['usablePerDeviceBytes']).toBeLessThan(detectedMemoryBytes);
    expect(memory['usablePerDeviceBytes']).toBeGreaterThan(detectedMemoryBytes * 0.9);
    // Each placement reserves the planner's memory per device.
    expect(placements[0]!['perDeviceBytes']).toBe(memory['perDeviceBytes']);

    expect(listOf((await h.call('GET', '/api/v1/deployments')).body)).toEqual([]);
    expect(listOf((await h.call('GET', '/api/v1/instances')).body)).toEqual([]);
    await h.control.reconcile();
    expect(listOf((await h.call('GET', '/api/v1/instances')).body)).toEqual([]);
  });

  it('says which replicas do not fit and why', async () => {
    // More replicas than the two GPUs and the CPU (64 GiB) can hold.
    const many = await preview({
      name: 'many',
      model: 'deepseek-r1-distill-qwen-7b',
      quant: 'q4_k_m',
      replicas: 30,
    });
    expect(many.status).toBe(200);
    expect(many.body['fits']).toBe(false);
    const placed = (many.body['placements'] as JsonObject[]).length;
    expect(placed).toBeGreaterThanOrEqual(2);
    expect(placed).toBeLessThan(30);
    expect((many.body['reasons'] as string[])[0]).toMatch(
      new RegExp(`^${30 - placed} of 30 replica\\(s\\) cannot be placed now: `),
    );

    const huge = await preview({ name: 'r1', model: 'deepseek-r1', quant: 'fp8', replicas: 1 });
    expect(huge.status).toBe(200);
    expect(huge.body).toMatchObject({ fits: false, estimate: null, placements: [] });
    expect((huge.body['reasons'] as string[]).join(' ')).toMatch(/cannot be placed now/);

    const engine = await preview({
      name: 'e',
      model: 'deepseek-r1-distill-qwen-7b',
      engine: 'tgi',
      replicas: 1,
    });
    // Refused as create refuses it (an engine that is not in the catalog could never be placed).
    expect(engine.status).toBe(400);
    expect(engine.body).toMatchObject({
      error: { param: 'engine', message: expect.stringContaining('llama.cpp') },
    });

    const file = await preview({ name: 'f', model: '/nowhere/model.gguf', replicas: 1 });
    expect(file.status).toBe(200);
    expect(file.body['fits']).toBe(false);
    expect((file.body['reasons'] as string[]).join(' ')).toContain('/nowhere/model.gguf');
  });

  it('sees what is already placed, and a taken name', async () => {
    const big = {
      name: 'big',
      model: 'deepseek-r1-distill-qwen-14b',
      quant: 'q8_0',
      engine: 'llama.cpp',
      replicas: 2,
    };
    expect((await preview(big)).body['fits']).toBe(true);
    expect((await h.call('POST', '/api/v1/deployments', { body: big })).status).toBe(201);
    await h.control.reconcile();
    expect(listOf((await h.call('GET', '/api/v1/instances')).body)).toHaveLength(2);

    // Both GPUs now hold a 14B Q8_0 instance (17 GB of 24): another one goes to the node's CPU memory
    // (device 2), and the name is taken.
    const again = await preview(big);
    expect(again.body['fits']).toBe(false);
    expect(again.body['reasons']).toEqual(['a deployment named "big" already exists']);
    const other = await preview({ ...big, name: 'big-2', replicas: 1 });
    expect(other.body).toMatchObject({ fits: true, reasons: [] });
    expect((other.body['placements'] as JsonObject[]).map((p) => p['deviceIndexes'])).toEqual([[2]]);
    // The CPU is a device without a catalog id: no planner estimate for it.
    expect(other.body['estimate']).toBeNull();
  });

  it('refuses an invalid body like create does', async () => {
    const cases: [unknown, string, string | null][] = [
      [{ name: 'x', model: 'deepseek-r1-distill-qwen-7b', replicas: 0 }, 'invalid_request', 'replicas'],
      [{ name: 'x', model: 'gpt-9', replicas: 1 }, 'invalid_request', 'model'],
      [
        { name: 'x', model: 'deepseek-r1-distill-qwen-7b', replicas: 1, sites: ['mars'] },
        'invalid_request',
        'sites',
      ],
      [
        { name: 'x', model: 'deepseek-r1-distill-qwen-7b', replicas: 1, gpus: 2 },
        'unsupported_parameter',
        'gpus',
      ],
      [{ name: 'bad name!', model: 'deepseek-r1-distill-qwen-7b', replicas: 1 }, 'invalid_request', 'name'],
    ];
    for (const [body, code, param] of cases) {
      const created = await h.call('POST', '/api/v1/deployments', { body });
      const previewed = await preview(body);
      expect(previewed.status, JSON.stringify(body)).toBe(400);
      expect(errorCode(previewed.body)).toBe(code);
      expect((previewed.body['error'] as JsonObject)['param']).toBe(param);
      expect(previewed.body).toEqual(created.body);
    }
    const notJson = await h.call('POST', '/api/v1/deployments/preview', { raw: 'nope' });
    expect(errorCode(notJson.body)).toBe('invalid_json');
    expect((await h.call('GET', '/api/v1/deployments/preview')).status).toBe(404);
  });
});
