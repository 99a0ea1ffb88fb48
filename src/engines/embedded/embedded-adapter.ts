import { engineMetricNames, loadFromMetrics } from '../../spec/engine-metrics.js';
import { httpHealth, singlePortEndpoints } from '../adapter/engine-probes.js';
import type {
  EngineAdapter,
  EngineSupportQuery,
  LaunchPlan,
  SupportResult,
} from '../adapter/engine-adapter.js';
import { parseLaunchSpec, type EngineLaunchInput } from '../adapter/launch-spec.js';
import { engineKeyEnv } from './engine-options.js';

import { EdgeFleetError } from '../../spec/edgefleet-error.js';

/** The embedded engine's names (engine-metrics.ts). */
export const embeddedMetricNames = engineMetricNames.embedded;

/**
 * The embedded node-llama-cpp engine (`edgefleet engine`). `binPath` is the `edgefleet.js` entry point;
 * the command is the current Node executable so no global install is needed.
 */
export function createEmbeddedAdapter(options: { nodePath?: string; binPath?: string } = {}): EngineAdapter {
  const supports = (query: EngineSupportQuery): SupportResult => {
    if (query.modelFormat !== 'gguf') {
      return { supported: false, reason: 'the embedded engine reads GGUF only' };
    }
    if (query.hardwareKind === 'npu') {
      return {
        supported: false,
        reason: 'the embedded engine has no Ascend (CANN) build; use llama-server or MindIE',
      };
    }
    return { supported: true, reason: `embedded llama.cpp on ${query.vendor} ${query.hardwareKind}` };
  };

  const launch = (input: EngineLaunchInput): LaunchPlan => {
    const spec = parseLaunchSpec(input);
    if (spec.multiNode) {
      throw new EdgeFleetError('invalid_argument', 'the embedded engine does not span several nodes', {
        param: 'multiNode',
      });
    }
    const args = [options.binPath ?? 'bin/edgefleet.js', 'engine', '--model', spec.model];
    args.push('--model-id', spec.servedModelName, '--host', spec.host, '--port', String(spec.port));
    if (spec.threads !== undefined) args.push('--threads', String(spec.threads));
    if (spec.parallelSlots !== undefined) args.push('--parallel', String(spec.parallelSlots));
    if (spec.contextLength !== undefined) args.push('--context', String(spec.contextLength));
    if (spec.accelerator === 'cpu') args.push('--gpu', 'false');
    const env: Record<string, string> = {};
    if (spec.deviceIndices.length > 0 && spec.accelerator === 'nvidia') {
      env['CUDA_VISIBLE_DEVICES'] = spec.deviceIndices.join(',');
    }
    return {
      command: spec.executable ?? options.nodePath ?? process.execPath,
      args,
      env: { ...env, ...(spec.apiKey !== undefined && { [engineKeyEnv]: spec.apiKey }), ...spec.env },
      files: [],
      ...singlePortEndpoints(spec),
    };
  };

  return {
    apiVersion: 1,
    id: 'embedded',
    displayName: 'EdgeFleet embedded llama.cpp',
    supports,
    launch,
    // 200 {"status":"ready",…}; 503 {"status":"loading"} or {"status":"error","error":"…"}.
    parseHealth: (status, body) => httpHealth(status, body, { loadingPattern: /^loading$/ }),
    parseMetrics: (text) => loadFromMetrics(text, embeddedMetricNames),
  };
}
