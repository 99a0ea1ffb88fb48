import { engineMetricNames, loadFromMetrics } from '../../spec/engine-metrics.js';
import { httpHealth, visibleDevicesEnv, singlePortEndpoints } from '../adapter/engine-probes.js';
import type {
  EngineAdapter,
  EngineSupportQuery,
  LaunchPlan,
  SupportResult,
} from '../adapter/engine-adapter.js';
import { parseLaunchSpec, type EngineLaunchInput, type EngineLaunchSpec } from '../adapter/launch-spec.js';

/** vLLM V1 metric names; `gpu_cache_usage_perc` is the pre-0.10 name of the KV gauge. */
export const vllmMetricNames = engineMetricNames.vllm;

/** Quantizations vLLM loads from safetensors checkpoints (the catalog ids that map onto them). */
const gpuQuants = new Set(['bf16', 'f16', 'fp8', 'w8a8', 'awq-int4', 'gptq-int4']);

function vllmArgs(spec: EngineLaunchSpec): string[] {
  const args = ['serve', spec.model, '--served-model-name', spec.servedModelName];
  args.push('--host', spec.host, '--port', String(spec.port));
  args.push('--tensor-parallel-size', String(spec.tensorParallelSize));
  args.push('--pipeline-parallel-size', String(spec.pipelineParallelSize));
  if (spec.contextLength !== undefined) args.push('--max-model-len', String(spec.contextLength));
  if (spec.gpuMemoryFraction !== undefined)
    args.push('--gpu-memory-utilization', String(spec.gpuMemoryFraction));
  if (spec.quantization !== undefined) args.push('--quantization', spec.quantization);
  const node = spec.multiNode;
  if (node) {
    // vLLM ≥ 0.11 multiprocessing multi-node (vllm-project/vllm#23691): every node runs `vllm serve` with the same sizes;
    // ranks > 0 are --headless (no API server).
    args.push('--nnodes', String(node.nodeCount), '--node-rank', String(node.nodeRank));
    args.push('--master-addr', node.masterAddr, '--master-port', String(node.masterPort));
    if (node.nodeRank > 0) args.push('--headless');
  }
  return args;
}

/** vLLM on NVIDIA (CUDA) or AMD (ROCm), or vLLM-Ascend (the vllm-ascend plugin) on Huawei NPUs. */
export function createVllmAdapter(variant: 'vllm' | 'vllm-ascend' = 'vllm'): EngineAdapter {
  const ascend = variant === 'vllm-ascend';
  const supports = (query: EngineSupportQuery): SupportResult => {
    if (query.modelFormat === 'gguf') {
      return {
        supported: false,
        reason: `${variant} GGUF loading is experimental (single-file, few architectures); use llama-server`,
      };
    }
    if (ascend) {
      return query.vendor === 'huawei' && query.hardwareKind === 'npu'
        ? { supported: true, reason: 'vLLM-Ascend runs on Huawei Ascend NPUs' }
        : { supported: false, reason: 'vLLM-Ascend needs a Huawei Ascend NPU' };
    }
    if (query.hardwareKind !== 'gpu' || (query.vendor !== 'nvidia' && query.vendor !== 'amd')) {
      return { supported: false, reason: 'vLLM needs an NVIDIA (CUDA) or AMD (ROCm) GPU' };
    }
    if (!gpuQuants.has(query.quant)) {
      return { supported: false, reason: `vLLM does not serve quantization ${query.quant}` };
    }
    return { supported: true, reason: `vLLM on ${query.vendor} GPU with ${query.quant}` };
  };

  const launch = (input: EngineLaunchInput): LaunchPlan => {
    const spec = parseLaunchSpec(input);
    const variable = ascend
      ? 'ASCEND_RT_VISIBLE_DEVICES'
      : spec.accelerator === 'amd'
        ? 'HIP_VISIBLE_DEVICES'
        : 'CUDA_VISIBLE_DEVICES';
    const env: Record<string, string> = { ...visibleDevicesEnv(variable, spec.deviceIndices) };
    // The address other nodes reach this one on; a wildcard bind address says nothing, so it is left to vLLM.
    if (spec.multiNode && spec.host !== '0.0.0.0') env['VLLM_HOST_IP'] = spec.host;
    // vLLM reads --api-key from VLLM_API_KEY (it guards /v1; /health and /metrics stay open).
    if (spec.apiKey !== undefined) env['VLLM_API_KEY'] = spec.apiKey;
    const headless = (spec.multiNode?.nodeRank ?? 0) > 0;
    return {
      command: spec.executable ?? 'vllm',
      args: vllmArgs(spec),
      env: { ...env, ...spec.env },
      files: [],
      ...singlePortEndpoints(spec, !headless),
    };
  };

  return {
    apiVersion: 1,
    id: variant,
    displayName: ascend ? 'vLLM-Ascend' : 'vLLM',
    supports,
    launch,
    // vLLM listens only once the model is loaded; its /health is 200 (empty) or 503 when the engine died.
    parseHealth: (status, body) => httpHealth(status, body),
    parseMetrics: (text) => loadFromMetrics(text, vllmMetricNames),
  };
}
