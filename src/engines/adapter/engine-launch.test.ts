import { describe, expect, it } from 'vitest';
import { EdgeFleetError } from '../../spec/edgefleet-error.js';
import { createEngineRegistry } from './engine-registry.js';

const registry = createEngineRegistry({
  nodePath: '/usr/bin/node',
  edgefleetBin: '/opt/edgefleet/bin/edgefleet.js',
});
const base = {
  model: 'deepseek-ai/DeepSeek-R1-Distill-Qwen-32B',
  servedModelName: 'r1-32b',
  host: '10.0.0.5',
  port: 8000,
};
const twoNodes = { nodeCount: 2, nodeRank: 1, masterAddr: '10.0.0.4', masterPort: 29500 };

describe('vLLM launch', () => {
  const vllm = registry.get('vllm');

  it('single GPU: vllm serve with name, address, context, memory fraction and quantization', () => {
    const plan = vllm.launch({
      ...base,
      contextLength: 32768,
      gpuMemoryFraction: 0.9,
      quantization: 'fp8',
      deviceIndices: [3],
    });
    expect(plan.command).toBe('vllm');
    expect(plan.args).toEqual([
      'serve',
      base.model,
      '--served-model-name',
      'r1-32b',
      '--host',
      '10.0.0.5',
      '--port',
      '8000',
      '--tensor-parallel-size',
      '1',
      '--pipeline-parallel-size',
      '1',
      '--max-model-len',
      '32768',
      '--gpu-memory-utilization',
      '0.9',
      '--quantization',
      'fp8',
    ]);
    expect(plan.env).toEqual({ CUDA_VISIBLE_DEVICES: '3' });
    expect(plan.openAiBaseUrl).toBe('http://10.0.0.5:8000/v1');
    expect([plan.healthPath, plan.metricsPath, plan.metricsPort]).toEqual(['/health', '/metrics', 8000]);
  });

  it('TP=8 on one node sets no multi-node flags', () => {
    const plan = vllm.launch({ ...base, tensorParallelSize: 8, deviceIndices: [0, 1, 2, 3, 4, 5, 6, 7] });
    expect(plan.args.join(' ')).toContain('--tensor-parallel-size 8 --pipeline-parallel-size 1');
    expect(plan.args).not.toContain('--nnodes');
    expect(plan.env['CUDA_VISIBLE_DEVICES']).toBe('0,1,2,3,4,5,6,7');
  });

  it('2 nodes × 8 GPUs, rank 1: --nnodes/--node-rank/--master-addr/--master-port and --headless, no API', () => {
    const plan = vllm.launch({
      ...base,
      tensorParallelSize: 8,
      pipelineParallelSize: 2,
      multiNode: twoNodes,
    });
    expect(plan.args.slice(-9)).toEqual([
      '--nnodes',
      '2',
      '--node-rank',
      '1',
      '--master-addr',
      '10.0.0.4',
      '--master-port',
      '29500',
      '--headless',
    ]);
    expect(plan.args.join(' ')).toContain('--pipeline-parallel-size 2');
    expect(plan.env['VLLM_HOST_IP']).toBe('10.0.0.5');
    expect(plan.openAiBaseUrl).toBeNull();
    const head = vllm.launch({
      ...base,
      tensorParallelSize: 8,
      pipelineParallelSize: 2,
      multiNode: { ...twoNodes, nodeRank: 0 },
    });
    expect(head.args).not.toContain('--headless');
    expect(head.openAiBaseUrl).toBe('http://10.0.0.5:8000/v1');
  });

  it('AMD GPUs use HIP_VISIBLE_DEVICES', () => {
    expect(vllm.launch({ ...base, accelerator: 'amd', deviceIndices: [0, 1] }).env).toEqual({
      HIP_VISIBLE_DEVICES: '0,1',
    });
  });

  it('vLLM-Ascend on 910B devices uses ASCEND_RT_VISIBLE_DEVICES', () => {
    const plan = registry
      .get('vllm-ascend')
      .launch({ ...base, tensorParallelSize: 4, quantization: 'ascend', deviceIndices: [4, 5, 6, 7] });
    expect(plan.env).toEqual({ ASCEND_RT_VISIBLE_DEVICES: '4,5,6,7' });
    expect(plan.args).toContain('ascend');
  });

  it('rejects an invalid spec with invalid_argument', () => {
    expect(() => vllm.launch({ ...base, port: 0 })).toThrow(EdgeFleetError);
    expect(() => vllm.launch({ ...base, multiNode: { ...twoNodes, nodeRank: 2 } })).toThrow(/nodeRank/);
    expect(() => vllm.launch({ ...base, gpuMemoryFraction: 1.5 })).toThrow(/gpuMemoryFraction/);
  });
});

describe('SGLang launch', () => {
  const sglang = registry.get('sglang');

  it('2 nodes × 8, rank 1: --tp-size 16 --nnodes 2 --node-rank 1 --dist-init-addr, metrics on', () => {
    const plan = sglang.launch({
      ...base,
      tensorParallelSize: 16,
      multiNode: twoNodes,
      gpuMemoryFraction: 0.85,
      contextLength: 65536,
    });
    expect(plan.command).toBe('python3');
    expect(plan.args).toEqual([
      '-m',
      'sglang.launch_server',
      '--model-path',
      base.model,
      '--served-model-name',
      'r1-32b',
      '--host',
      '10.0.0.5',
      '--port',
      '8000',
      '--tp-size',
      '16',
      '--context-length',
      '65536',
      '--mem-fraction-static',
      '0.85',
      '--nnodes',
      '2',
      '--node-rank',
      '1',
      '--dist-init-addr',
      '10.0.0.4:29500',
      '--enable-metrics',
    ]);
    expect(plan.openAiBaseUrl).toBeNull();
  });

  it('single GPU with pipeline parallel adds --pp-size only when > 1', () => {
    expect(sglang.launch(base).args).not.toContain('--pp-size');
    expect(sglang.launch({ ...base, pipelineParallelSize: 2 }).args.join(' ')).toContain('--pp-size 2');
  });
});

describe('llama-server launch', () => {
  const llama = registry.get('llama-server');

  it('CPU: -m -a --host --port -c (per slot × slots) -np -t, no GPU layers, --metrics', () => {
    const plan = llama.launch({
      ...base,
      model: '/models/m.gguf',
      contextLength: 4096,
      parallelSlots: 4,
      threads: 6,
      accelerator: 'cpu',
    });
    expect(plan.args).toEqual([
      '-m',
      '/models/m.gguf',
      '-a',
      'r1-32b',
      '--host',
      '10.0.0.5',
      '--port',
      '8000',
      '-c',
      '16384',
      '-np',
      '4',
      '-t',
      '6',
      '--n-gpu-layers',
      '0',
      '--metrics',
    ]);
    expect(plan.env).toEqual({});
  });

  it('NVIDIA: offloads all layers and restricts devices', () => {
    const plan = llama.launch({
      ...base,
      model: '/m.gguf',
      accelerator: 'nvidia',
      deviceIndices: [1],
      executable: '/opt/llama-server',
    });
    expect(plan.command).toBe('/opt/llama-server');
    expect(plan.args.join(' ')).toContain('--n-gpu-layers 999');
    expect(plan.env).toEqual({ CUDA_VISIBLE_DEVICES: '1' });
  });

  it('refuses multi-node', () => {
    expect(() => llama.launch({ ...base, multiNode: twoNodes })).toThrow(/several nodes/);
  });
});

describe('embedded launch', () => {
  it('runs `node edgefleet.js engine` with the engine CLI flags', () => {
    const plan = registry
      .get('embedded')
      .launch({ ...base, model: '/m.gguf', threads: 2, parallelSlots: 4, contextLength: 4096 });
    expect(plan.command).toBe('/usr/bin/node');
    expect(plan.args).toEqual([
      '/opt/edgefleet/bin/edgefleet.js',
      'engine',
      '--model',
      '/m.gguf',
      '--model-id',
      'r1-32b',
      '--host',
      '10.0.0.5',
      '--port',
      '8000',
      '--threads',
      '2',
      '--parallel',
      '4',
      '--context',
      '4096',
    ]);
  });
});

describe('engine keys', () => {
  const key = 'ef_engine_test-key';
  it('gives each engine its key where it reads one, off the command line where it can', () => {
    const llama = registry.get('llama-server').launch({ ...base, model: '/m/tiny.gguf', apiKey: key });
    expect(llama.env['LLAMA_API_KEY']).toBe(key);
    expect(llama.args.join(' ')).not.toContain(key);
    const vllm = registry.get('vllm').launch({ ...base, apiKey: key });
    expect(vllm.env['VLLM_API_KEY']).toBe(key);
    expect(vllm.args.join(' ')).not.toContain(key);
    const embedded = registry.get('embedded').launch({ ...base, model: '/m/tiny.gguf', apiKey: key });
    expect(embedded.env['EDGEFLEET_ENGINE_KEY']).toBe(key);
    expect(embedded.args.join(' ')).not.toContain(key);
    // SGLang takes it only as a flag.
    const sglang = registry.get('sglang').launch({ ...base, apiKey: key });
    expect(sglang.args.slice(-2)).toEqual(['--api-key', key]);
  });

  it('launches an open engine without a key', () => {
    expect(registry.get('llama-server').launch({ ...base, model: '/m/tiny.gguf' }).env).not.toHaveProperty(
      'LLAMA_API_KEY',
    );
    expect(registry.get('vllm').launch(base).env).not.toHaveProperty('VLLM_API_KEY');
    expect(registry.get('sglang').launch(base).args).not.toContain('--api-key');
  });
});
