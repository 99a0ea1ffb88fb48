import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { binPath } from '../helpers/edgefleet-process.js';
import { errorCode, listOf, startHarness, type Harness, type JsonObject } from './server-harness.js';

/** Runs the built CLI and returns its stdout (the command must succeed). */
async function cliJson(args: string[]): Promise<unknown> {
  const child = spawn(process.execPath, [binPath, ...args], {
    env: { ...process.env, EDGEFLEET_LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (text: string) => (out += text));
  child.stderr.setEncoding('utf8').on('data', (text: string) => (err += text));
  const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
  if (code !== 0) throw new Error(`edgefleet ${args.join(' ')} exited ${code}: ${err}`);
  return JSON.parse(out) as unknown;
}

describe('dashboard planner API', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness();
  });
  afterAll(async () => {
    await h?.close();
  });

  it('needs the admin key', async () => {
    for (const [method, path] of [
      ['GET', '/api/v1/catalog'],
      ['POST', '/api/v1/planner/estimate'],
      ['POST', '/api/v1/planner/recommend'],
    ] as const) {
      const body = method === 'POST' ? {} : undefined;
      expect((await h.call(method, path, { key: null, body })).status, path).toBe(401);
      expect((await h.call(method, path, { key: h.inferenceKey, body })).status, path).toBe(403);
    }
  });

  it('lists the catalog with ids, names and the numbers the forms need', async () => {
    const { status, body } = await h.call('GET', '/api/v1/catalog');
    expect(status).toBe(200);
    expect(body['object']).toBe('catalog');
    const models = body['models'] as JsonObject[];
    const r1 = models.find((m) => m['id'] === 'deepseek-r1');
    // DeepSeek-R1: 671B parameters in all, 37B active per token, 128K context (163,840 in its config).
    expect(r1?.['paramsB']).toBeGreaterThan(660);
    expect(r1?.['paramsB']).toBeLessThan(690);
    expect(r1?.['activeParamsB']).toBeGreaterThan(35);
    expect(r1?.['activeParamsB']).toBeLessThan(40);
    expect(r1?.['contextTokens']).toBe(163_840);
    const dense = models.find((m) => m['id'] === 'deepseek-r1-distill-qwen-14b');
    expect(dense?.['activeParamsB']).toBeLessThanOrEqual(dense?.['paramsB'] as number);
    expect(Object.keys(dense ?? {}).sort()).toEqual([
      'activeParamsB',
      'contextTokens',
      'id',
      'name',
      'paramsB',
    ]);
    const quants = body['quantizations'] as JsonObject[];
    expect(quants.map((q) => q['id'])).toEqual(expect.arrayContaining(['q4_k_m', 'fp8', 'bf16']));
    expect(Object.keys(quants[0]!).sort()).toEqual(['id', 'name']);
    const engines = body['engines'] as JsonObject[];
    expect(engines.map((e) => e['id'])).toEqual(expect.arrayContaining(['llama.cpp', 'vllm', 'mindie']));
    const hardware = body['hardware'] as JsonObject[];
    const h200 = hardware.find((d) => d['id'] === 'h200');
    expect(h200).toMatchObject({ vendor: 'nvidia', kind: 'gpu' });
    expect(h200?.['memoryBytes']).toBeGreaterThan(140e9);
    expect(Object.keys(h200 ?? {}).sort()).toEqual([
      'id',
      'kind',
      'memoryBytes',
      'name',
      'pricePerHourUsd',
      'vendor',
    ]);
    // A device without a price has null, not a missing field.
    for (const device of hardware) expect(device).toHaveProperty('pricePerHourUsd');
  });

  it('estimates exactly what `edgefleet estimate --json --uncalibrated` prints', async () => {
    const request = {
      model: 'deepseek-r1-distill-qwen-14b',
      quant: 'q4_k_m',
      engine: 'llama.cpp',
      hardware: 'rtx-4090',
      count: 1,
      batch: 4,
      contextTokens: 8192,
      promptTokens: 800,
      outputTokens: 400,
    };
    const { status, body } = await h.call('POST', '/api/v1/planner/estimate', { body: request });
    expect(status).toBe(200);
    const cli = await cliJson([
      'estimate',
      '--model',
      request.model,
      '--quant',
      request.quant,
      '--engine',
      request.engine,
      '--hardware',
      request.hardware,
      '--count',
      '1',
      '--batch',
      '4',
      '--context',
      '8192',
      '--prompt',
      '800',
      '--output',
      '400',
      '--uncalibrated',
      '--json',
    ]);
    expect(body).toEqual(cli);
    expect(body).toMatchObject({ fits: true, batch: 4, contextTokens: 8192 });

    // Too big for the device: fits false, with the reason.
    const big = await h.call('POST', '/api/v1/planner/estimate', {
      body: { model: 'deepseek-r1', quant: 'fp8', engine: 'vllm', hardware: 'rtx-4090' },
    });
    expect(big.status).toBe(200);
    expect(big.body['fits']).toBe(false);
    expect((big.body['reasons'] as string[]).length).toBeGreaterThan(0);
    // Defaults: count 1, batch 1, context max(4096, 500 + 1000).
    expect(big.body).toMatchObject({ count: 1, batch: 1, contextTokens: 4096, promptTokens: 500 });
  });

  it('refuses unknown ids and bad bodies with a 400 that lists the valid ids', async () => {
    const base = { model: 'deepseek-r1', quant: 'q4_k_m', engine: 'llama.cpp', hardware: 'h200' };
    const unknownModel = await h.call('POST', '/api/v1/planner/estimate', {
      body: { ...base, model: 'gpt-9' },
    });
    expect(unknownModel.status).toBe(400);
    expect(errorCode(unknownModel.body)).toBe('invalid_request');
    const error = unknownModel.body['error'] as JsonObject;
    expect(error['param']).toBe('model');
    expect(error['message']).toContain('deepseek-r1-distill-qwen-14b');
    const unknownQuant = await h.call('POST', '/api/v1/planner/estimate', { body: { ...base, quant: 'q3' } });
    expect(unknownQuant.status).toBe(400);
    expect((unknownQuant.body['error'] as JsonObject)['param']).toBe('quant');
    expect((unknownQuant.body['error'] as JsonObject)['message']).toContain('q8_0');
    const unknownEngine = await h.call('POST', '/api/v1/planner/estimate', {
      body: { ...base, engine: 'tgi' },
    });
    expect((unknownEngine.body['error'] as JsonObject)['message']).toContain('sglang');
    const unknownHardware = await h.call('POST', '/api/v1/planner/estimate', {
      body: { ...base, hardware: 'tpu-v5' },
    });
    expect((unknownHardware.body['error'] as JsonObject)['message']).toContain('ascend-910b');

    for (const body of [
      { ...base, count: 0 },
      { ...base, batch: 1.5 },
      { ...base, contextTokens: 'long' },
      { quant: 'q4_k_m', engine: 'llama.cpp', hardware: 'h200' },
    ]) {
      const bad = await h.call('POST', '/api/v1/planner/estimate', { body });
      expect(bad.status, JSON.stringify(body)).toBe(400);
      expect(errorCode(bad.body)).toBe('invalid_request');
    }
    const extra = await h.call('POST', '/api/v1/planner/estimate', { body: { ...base, gpus: 2 } });
    expect(extra.status).toBe(400);
    expect(errorCode(extra.body)).toBe('unsupported_parameter');
    const notJson = await h.call('POST', '/api/v1/planner/estimate', { raw: '{"model":' });
    expect(notJson.status).toBe(400);
    expect(errorCode(notJson.body)).toBe('invalid_json');
    expect((await h.call('GET', '/api/v1/planner/estimate')).status).toBe(405);
    expect((await h.call('POST', '/api/v1/catalog', { body: {} })).status).toBe(405);
    expect((await h.call('GET', '/api/v1/planner/nothing')).status).toBe(404);
  });

  it('recommends configurations for the devices, best first, at most 50', async () => {
    const { status, body } = await h.call('POST', '/api/v1/planner/recommend', {
      body: { hardware: 'rtx-4090', count: 2, users: 4, sloTpotMs: 100 },
    });
    expect(status).toBe(200);
    expect(body['object']).toBe('list');
    const rows = listOf(body);
    expect(rows.length).toBeGreaterThan(0);
    expect(rows.length).toBeLessThanOrEqual(50);
    // Ranked: every configuration that meets the SLO comes before any that does not.
    const meets = rows.map((r) => r['meetsSlo'] as boolean);
    expect(meets.indexOf(false) === -1 || meets.lastIndexOf(true) < meets.indexOf(false)).toBe(true);
    for (const row of rows) {
      expect(row['devicesPerInstance'] as number).toBeLessThanOrEqual(2);
      if (row['meetsSlo']) {
        expect(row['timePerOutputTokenMs'] as number).toBeLessThanOrEqual(100);
        expect(row['totalStreams'] as number).toBeGreaterThanOrEqual(4);
      }
    }
    // One row per model × quant × engine unless `all`.
    const keys = rows.map((r) => `${r['model']}|${r['quant']}|${r['engine']}`);
    expect(new Set(keys).size).toBe(keys.length);
    const all = await h.call('POST', '/api/v1/planner/recommend', {
      body: { hardware: 'rtx-4090', count: 2, all: true, limit: 5 },
    });
    expect(listOf(all.body)).toHaveLength(5);

    const bad = await h.call('POST', '/api/v1/planner/recommend', { body: { hardware: 'nope', count: 1 } });
    expect(bad.status).toBe(400);
    expect(errorCode(bad.body)).toBe('invalid_request');
    expect((bad.body['error'] as JsonObject)['message']).toContain('rtx-4090');
    const noCount = await h.call('POST', '/api/v1/planner/recommend', { body: { hardware: 'h200' } });
    expect(noCount.status).toBe(400);
    expect((noCount.body['error'] as JsonObject)['param']).toBe('count');
  });
});
