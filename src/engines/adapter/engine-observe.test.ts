import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { EngineId, EngineSupportQuery } from './engine-adapter.js';
import { createEngineRegistry } from './engine-registry.js';

const registry = createEngineRegistry();
const fixture = (name: string) =>
  readFileSync(fileURLToPath(new URL(`../../../test/fixtures/engines/${name}`, import.meta.url)), 'utf8');

const nvidiaFp8: EngineSupportQuery = {
  hardwareKind: 'gpu',
  vendor: 'nvidia',
  quant: 'fp8',
  modelFormat: 'safetensors',
};
const nvidiaGguf: EngineSupportQuery = {
  hardwareKind: 'gpu',
  vendor: 'nvidia',
  quant: 'q4_k_m',
  modelFormat: 'gguf',
};
const ascendBf16: EngineSupportQuery = {
  hardwareKind: 'npu',
  vendor: 'huawei',
  quant: 'bf16',
  modelFormat: 'safetensors',
};
const ascendGguf: EngineSupportQuery = {
  hardwareKind: 'npu',
  vendor: 'huawei',
  quant: 'q8_0',
  modelFormat: 'gguf',
};
const cpuGguf: EngineSupportQuery = {
  hardwareKind: 'cpu',
  vendor: 'intel',
  quant: 'q4_k_m',
  modelFormat: 'gguf',
};
const amdBf16: EngineSupportQuery = {
  hardwareKind: 'gpu',
  vendor: 'amd',
  quant: 'bf16',
  modelFormat: 'safetensors',
};
const appleGguf: EngineSupportQuery = {
  hardwareKind: 'apple',
  vendor: 'apple',
  quant: 'q4_k_m',
  modelFormat: 'gguf',
};

describe('supports matrix', () => {
  it.each<[string, EngineSupportQuery, EngineId[]]>([
    ['NVIDIA fp8 safetensors', nvidiaFp8, ['vllm', 'sglang']],
    ['NVIDIA GGUF', nvidiaGguf, ['embedded', 'llama-server']],
    ['AMD bf16 safetensors', amdBf16, ['vllm', 'sglang']],
    ['Ascend bf16 safetensors', ascendBf16, ['mindie', 'vllm-ascend']],
    ['Ascend GGUF', ascendGguf, ['llama-server']],
    ['CPU GGUF', cpuGguf, ['embedded', 'llama-server']],
    ['Apple GGUF', appleGguf, ['embedded', 'llama-server']],
  ])('%s → %j', (_name, query, expected) => {
    const { supported, refused } = registry.candidates(query);
    expect(supported).toEqual(expected);
    for (const reason of Object.values(refused)) expect(reason.length).toBeGreaterThan(10);
  });

  it('explains refusals', () => {
    expect(registry.get('vllm').supports(nvidiaGguf)).toEqual({
      supported: false,
      reason: expect.stringMatching(/GGUF/),
    });
    expect(registry.get('mindie').supports(nvidiaFp8).reason).toMatch(/Ascend/);
    expect(registry.get('vllm').supports({ ...nvidiaFp8, quant: 'iq1_s' }).supported).toBe(false);
  });

  it('knows every engine id and refuses unknown ones', () => {
    expect(registry.ids()).toEqual(['embedded', 'llama-server', 'vllm', 'sglang', 'mindie', 'vllm-ascend']);
    expect(registry.ids().every((id) => registry.get(id).apiVersion === 1)).toBe(true);
    expect(() => registry.get('ollama')).toThrow(/unknown engine "ollama"/);
  });
});

describe('health parsing', () => {
  const llama = registry.get('llama-server');
  it('llama-server: 200 ok → ready; 503 "Loading model" → loading; 500 → error', () => {
    expect(llama.parseHealth(200, fixture('llama-server-health-ok.txt'))).toEqual({ state: 'ready' });
    expect(llama.parseHealth(503, fixture('llama-server-health-loading.txt'))).toEqual({
      state: 'loading',
      message: 'Loading model',
    });
    expect(llama.parseHealth(500, '{"error":{"code":500,"message":"boom"}}')).toEqual({
      state: 'error',
      message: 'HTTP 500: boom',
    });
  });
  it('embedded: ready / loading / error bodies', () => {
    const embedded = registry.get('embedded');
    expect(embedded.parseHealth(200, fixture('embedded-health-ready.txt')).state).toBe('ready');
    expect(embedded.parseHealth(503, '{"status":"loading","model":"m"}').state).toBe('loading');
    expect(embedded.parseHealth(503, '{"status":"error","error":"bad gguf","model":"m"}')).toEqual({
      state: 'error',
      message: 'HTTP 503: bad gguf',
    });
  });
  it('vLLM: empty 200 → ready, empty 503 (engine dead) → error; SGLang: empty 503 → loading', () => {
    expect(registry.get('vllm').parseHealth(200, '').state).toBe('ready');
    expect(registry.get('vllm').parseHealth(503, '').state).toBe('error');
    expect(registry.get('sglang').parseHealth(503, '').state).toBe('loading');
    expect(registry.get('sglang').parseHealth(200, '').state).toBe('ready');
  });
});

describe('metrics parsing on recorded outputs', () => {
  it.each<[EngineId, string, object]>([
    [
      'llama-server',
      'llama-server-metrics.txt',
      {
        requestsRunning: 0,
        requestsWaiting: 0,
        kvCacheUsage: null,
        promptTokensTotal: 6,
        generationTokensTotal: 8,
      },
    ],
    [
      'embedded',
      'embedded-metrics.txt',
      {
        requestsRunning: 0,
        requestsWaiting: 0,
        kvCacheUsage: 0,
        promptTokensTotal: 6,
        generationTokensTotal: 8,
      },
    ],
    [
      'vllm',
      'vllm-v1-metrics.txt',
      {
        requestsRunning: 8,
        requestsWaiting: 2,
        kvCacheUsage: 0.5,
        promptTokensTotal: 87765,
        generationTokensTotal: 218356,
      },
    ],
    [
      'vllm',
      'vllm-v0-metrics.txt',
      {
        requestsRunning: 4,
        requestsWaiting: 1,
        kvCacheUsage: 0.8123,
        promptTokensTotal: 9021,
        generationTokensTotal: 30417,
      },
    ],
    [
      'sglang',
      'sglang-metrics.txt',
      {
        requestsRunning: 162,
        requestsWaiting: 2826,
        kvCacheUsage: 0.28,
        promptTokensTotal: 8128902,
        generationTokensTotal: 7557572,
      },
    ],
    [
      'mindie',
      'mindie-metrics.txt',
      {
        requestsRunning: 0,
        requestsWaiting: 0,
        kvCacheUsage: 1,
        promptTokensTotal: 9564,
        generationTokensTotal: 84425,
      },
    ],
    ['vllm-ascend', 'vllm-v1-metrics.txt', { requestsRunning: 8, requestsWaiting: 2, kvCacheUsage: 0.5 }],
    // Real scrapes, as pasted in public threads (sources in test/fixtures/engines/README.md).
    ['vllm', 'vllm-recorded-v1-fragment.txt', { requestsRunning: 0, requestsWaiting: 0, kvCacheUsage: 0 }],
    [
      'vllm',
      'vllm-recorded-v0-fragment.txt',
      { kvCacheUsage: null, promptTokensTotal: 1196, generationTokensTotal: 218152 },
    ],
  ])('%s on %s', (id, file, expected) => {
    expect(registry.get(id).parseMetrics(fixture(file))).toMatchObject(expected);
  });

  it('a scrape without the engine metrics reads as idle with unknown KV use, saying the queue is unknown', () => {
    expect(registry.get('vllm').parseMetrics('# nothing yet\n')).toEqual({
      requestsRunning: 0,
      requestsWaiting: 0,
      kvCacheUsage: null,
      queueUnknown: true,
    });
  });
});
