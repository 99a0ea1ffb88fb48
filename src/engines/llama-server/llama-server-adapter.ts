import { engineMetricNames, loadFromMetrics } from '../../spec/engine-metrics.js';
import { EdgeFleetError } from '../../spec/edgefleet-error.js';
import { httpHealth, visibleDevicesEnv, singlePortEndpoints } from '../adapter/engine-probes.js';
import type {
  EngineAdapter,
  EngineSupportQuery,
  LaunchPlan,
  SupportResult,
} from '../adapter/engine-adapter.js';
import { parseLaunchSpec, type EngineLaunchInput, type EngineLaunchSpec } from '../adapter/launch-spec.js';

/** llama-server's /metrics (with --metrics); this version has no KV-cache gauge, so kvCacheUsage is null. */
export const llamaServerMetricNames = engineMetricNames.llamaServer;

function llamaArgs(spec: EngineLaunchSpec): string[] {
  const args = [
    '-m',
    spec.model,
    '-a',
    spec.servedModelName,
    '--host',
    spec.host,
    '--port',
    String(spec.port),
  ];
  // llama-server's -c is the whole context, shared by -np slots: give each slot contextLength tokens.
  const slots = spec.parallelSlots ?? 1;
  if (spec.contextLength !== undefined) args.push('-c', String(spec.contextLength * slots));
  args.push('-np', String(slots));
  if (spec.threads !== undefined) args.push('-t', String(spec.threads));
  const onCpu = spec.accelerator === 'cpu' || spec.accelerator === undefined;
  args.push('--n-gpu-layers', String(spec.gpuLayers ?? (onCpu ? 0 : 999)));
  args.push('--metrics');
  return args;
}

function deviceEnv(spec: EngineLaunchSpec): Record<string, string> {
  switch (spec.accelerator) {
    case 'nvidia':
      return visibleDevicesEnv('CUDA_VISIBLE_DEVICES', spec.deviceIndices);
    case 'amd':
    case 'hygon':
      return visibleDevicesEnv('HIP_VISIBLE_DEVICES', spec.deviceIndices);
    case 'huawei':
      return visibleDevicesEnv('ASCEND_RT_VISIBLE_DEVICES', spec.deviceIndices);
    default:
      return {};
  }
}

/**
 * llama.cpp's llama-server: GGUF on any hardware its build supports (CPU everywhere; CUDA, ROCm/HIP, Metal,
 * Vulkan, CANN when built for them). Single node only: tensor/pipeline parallel and multi-node are refused.
 */
export function createLlamaServerAdapter(): EngineAdapter {
  const supports = (query: EngineSupportQuery): SupportResult =>
    query.modelFormat === 'gguf'
      ? { supported: true, reason: `llama-server runs GGUF on ${query.vendor} ${query.hardwareKind}` }
      : { supported: false, reason: 'llama-server reads GGUF only; convert safetensors or use vLLM/SGLang' };

  const launch = (input: EngineLaunchInput): LaunchPlan => {
    const spec = parseLaunchSpec(input);
    if (spec.multiNode) {
      throw new EdgeFleetError('invalid_argument', 'llama-server does not span several nodes', {
        param: 'multiNode',
      });
    }
    return {
      command: spec.executable ?? 'llama-server',
      args: llamaArgs(spec),
      // llama-server reads --api-key from LLAMA_API_KEY: the key stays out of the process list.
      env: {
        ...deviceEnv(spec),
        ...(spec.apiKey !== undefined && { LLAMA_API_KEY: spec.apiKey }),
        ...spec.env,
      },
      files: [],
      ...singlePortEndpoints(spec),
    };
  };

  return {
    apiVersion: 1,
    id: 'llama-server',
    displayName: 'llama.cpp llama-server',
    supports,
    launch,
    // 200 {"status":"ok"}; 503 {"error":{"code":503,"message":"Loading model","type":"unavailable_error"}}.
    parseHealth: (status, body) => httpHealth(status, body),
    parseMetrics: (text) => loadFromMetrics(text, llamaServerMetricNames),
  };
}
