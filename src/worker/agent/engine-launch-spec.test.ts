import { describe, expect, it } from 'vitest';
import { engineCatalog, findEngine } from '../../catalog/engines/engine-catalog.js';
import type { DesiredInstance } from '../../spec/worker-protocol.js';
import {
  adapterIdFor,
  checkpointModelArg,
  engineQuantization,
  ggufModelRef,
  placementOf,
} from './engine-launch-spec.js';

const instance = (patch: Partial<DesiredInstance>): DesiredInstance => ({
  id: 'i',
  deploymentId: 'd',
  modelRef: 'm',
  servedName: 'm',
  engine: 'vllm',
  deviceIndexes: [],
  contextTokens: 512,
  ...patch,
});

describe('engine launch spec from a DesiredInstance', () => {
  it('maps catalog engine ids to adapters', () => {
    expect(adapterIdFor('llama.cpp')).toBe('embedded');
    expect(adapterIdFor('llama-server')).toBe('llama-server');
    expect(adapterIdFor('vllm-ascend')).toBe('vllm-ascend');
    expect(adapterIdFor('SGLang')).toBe('sglang');
    expect(adapterIdFor('trtllm')).toBeUndefined();
    expect(adapterIdFor('ollama')).toBeUndefined();
  });

  it('lets deployments name llama-server, planned as llama.cpp, without listing it twice', () => {
    const llamaServer = findEngine('llama-server');
    expect(llamaServer.id).toBe('llama-server');
    expect({ ...llamaServer, id: 'llama.cpp' }).toEqual(findEngine('llama.cpp'));
    expect(engineCatalog.map((e) => e.id)).not.toContain('llama-server');
  });

  it('turns allocated node device indexes into the vendor runtime and its indices', () => {
    const devices = [
      { index: 0, vendor: 'nvidia', kind: 'gpu' },
      { index: 1, vendor: 'nvidia', kind: 'gpu' },
      { index: 2, vendor: 'nvidia', kind: 'gpu' },
    ];
    expect(placementOf([2, 0], devices)).toEqual({ accelerator: 'nvidia', deviceIndices: [0, 2] });
    expect(placementOf([3], devices)).toEqual({ accelerator: 'cpu', deviceIndices: [] }); // the CPU pseudo-device
    expect(placementOf([1], [{ index: 1, vendor: 'huawei', kind: 'npu' }])).toEqual({
      accelerator: 'huawei',
      deviceIndices: [1],
    });
    expect(placementOf([0], [{ index: 0, vendor: 'intel', kind: 'gpu' }]).accelerator).toBe('cpu');
  });

  it('gives checkpoint engines a Hugging Face repo id or a local path', async () => {
    expect(await checkpointModelArg('deepseek-r1-distill-qwen-7b')).toBe(
      'deepseek-ai/DeepSeek-R1-Distill-Qwen-7B',
    );
    expect(await checkpointModelArg('Qwen/Qwen2.5-7B-Instruct')).toBe('Qwen/Qwen2.5-7B-Instruct');
    expect(await checkpointModelArg('hf:Qwen/Qwen2.5-7B-Instruct')).toBe('Qwen/Qwen2.5-7B-Instruct');
    expect(await checkpointModelArg('/')).toBe('/');
    await expect(checkpointModelArg('/nonexistent/ckpt')).rejects.toThrow(/does not exist on this node/);
    await expect(checkpointModelArg('not a model')).rejects.toThrow(/neither a local path/);
  });

  it('adds the GGUF quant to catalog ids and maps serving quants to --quantization', () => {
    expect(ggufModelRef(instance({ modelRef: 'deepseek-r1-distill-qwen-1.5b', quant: 'q8_0' }))).toBe(
      'deepseek-r1-distill-qwen-1.5b:Q8_0',
    );
    expect(ggufModelRef(instance({ modelRef: '/m/x.gguf', quant: 'q8_0' }))).toBe('/m/x.gguf');
    expect(engineQuantization(instance({ quant: 'awq-int4' }))).toBe('awq');
    expect(engineQuantization(instance({ quant: 'bf16' }))).toBeUndefined();
    expect(engineQuantization(instance({ quant: 'bf16', quantization: 'fp8' }))).toBe('fp8');
  });
});
