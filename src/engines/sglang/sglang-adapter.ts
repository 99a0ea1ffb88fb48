import { engineMetricNames, loadFromMetrics } from '../../spec/engine-metrics.js';
import { httpHealth, visibleDevicesEnv, singlePortEndpoints } from '../adapter/engine-probes.js';
import type {
  EngineAdapter,
  EngineSupportQuery,
  LaunchPlan,
  SupportResult,
} from '../adapter/engine-adapter.js';
import { parseLaunchSpec, type EngineLaunchInput, type EngineLaunchSpec } from '../adapter/launch-spec.js';

/** SGLang's scheduler metrics (enabled by --enable-metrics); `token_usage` is the KV pool's used share. */
export const sglangMetricNames = engineMetricNames.sglang;

const gpuQuants = new Set(['bf16', 'f16', 'fp8', 'w8a8', 'awq-int4', 'gptq-int4']);

function sglangArgs(spec: EngineLaunchSpec): string[] {
  const args = ['-m', 'sglang.launch_server', '--model-path', spec.model];
  args.push('--served-model-name', spec.servedModelName, '--host', spec.host, '--port', String(spec.port));
  args.push('--tp-size', String(spec.tensorParallelSize));
  if (spec.pipelineParallelSize > 1) args.push('--pp-size', String(spec.pipelineParallelSize));
  if (spec.contextLength !== undefined) args.push('--context-length', String(spec.contextLength));
  if (spec.gpuMemoryFraction !== undefined)
    args.push('--mem-fraction-static', String(spec.gpuMemoryFraction));
  if (spec.quantization !== undefined) args.push('--quantization', spec.quantization);
  const node = spec.multiNode;
  if (node) {
    args.push('--nnodes', String(node.nodeCount), '--node-rank', String(node.nodeRank));
    args.push('--dist-init-addr', `${node.masterAddr}:${node.masterPort}`);
  }
  args.push('--enable-metrics');
  // SGLang takes the key only as a flag.
  if (spec.apiKey !== undefined) args.push('--api-key', spec.apiKey);
  return args;
}

/** SGLang (`python -m sglang.launch_server`) on NVIDIA or AMD GPUs. */
export function createSglangAdapter(): EngineAdapter {
  const supports = (query: EngineSupportQuery): SupportResult => {
    if (query.modelFormat === 'gguf') {
      return { supported: false, reason: 'SGLang serves safetensors checkpoints; use llama-server for GGUF' };
    }
    if (query.hardwareKind !== 'gpu' || (query.vendor !== 'nvidia' && query.vendor !== 'amd')) {
      return { supported: false, reason: 'SGLang needs an NVIDIA (CUDA) or AMD (ROCm) GPU' };
    }
    if (!gpuQuants.has(query.quant)) {
      return { supported: false, reason: `SGLang does not serve quantization ${query.quant}` };
    }
    return { supported: true, reason: `SGLang on ${query.vendor} GPU with ${query.quant}` };
  };

  const launch = (input: EngineLaunchInput): LaunchPlan => {
    const spec = parseLaunchSpec(input);
    const variable = spec.accelerator === 'amd' ? 'HIP_VISIBLE_DEVICES' : 'CUDA_VISIBLE_DEVICES';
    // In an SGLang multi-node group only rank 0 serves HTTP; the other ranks run the model shards.
    const serving = (spec.multiNode?.nodeRank ?? 0) === 0;
    return {
      command: spec.executable ?? 'python3',
      args: sglangArgs(spec),
      env: { ...visibleDevicesEnv(variable, spec.deviceIndices), ...spec.env },
      files: [],
      ...singlePortEndpoints(spec, serving),
    };
  };

  return {
    apiVersion: 1,
    id: 'sglang',
    displayName: 'SGLang',
    supports,
    launch,
    // SGLang's /health is 200 with an empty body once warm; 503 (empty or "not ready") while starting.
    parseHealth: (status, body) => httpHealth(status, body, { emptyBodyIsLoading: true }),
    parseMetrics: (text) => loadFromMetrics(text, sglangMetricNames),
  };
}
