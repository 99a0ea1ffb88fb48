import { engineMetricNames, loadFromMetrics } from '../../spec/engine-metrics.js';
import { httpHealth } from '../adapter/engine-probes.js';
import type {
  EngineAdapter,
  EngineSupportQuery,
  LaunchPlan,
  SupportResult,
} from '../adapter/engine-adapter.js';
import { parseLaunchSpec, type EngineLaunchInput } from '../adapter/launch-spec.js';

import { mindieConfig, mindiePorts } from './mindie-config.js';

/**
 * MindIE Server's Prometheus names (MIES_SERVICE_MONITOR_MODE=1): vLLM-like but without a prefix; the
 * KV-cache gauge is `npu_cache_usage_perc` (in the documented response sample the fixture is taken from).
 */
export const mindieMetricNames = engineMetricNames.mindie;

export const mindieDaemonPath = '/usr/local/Ascend/mindie/latest/mindie-service/bin/mindieservice_daemon';

/** Huawei MindIE Server (MindIE LLM / ATB models) on Ascend NPUs, configured through a generated config.json. */
export function createMindieAdapter(): EngineAdapter {
  const supports = (query: EngineSupportQuery): SupportResult => {
    if (query.hardwareKind !== 'npu' || query.vendor !== 'huawei') {
      return { supported: false, reason: 'MindIE runs only on Huawei Ascend NPUs' };
    }
    if (query.modelFormat !== 'safetensors') {
      return { supported: false, reason: 'MindIE loads safetensors weights, not GGUF' };
    }
    if (!['bf16', 'f16', 'w8a8'].includes(query.quant)) {
      return {
        supported: false,
        reason: `MindIE does not serve quantization ${query.quant} (bf16, f16, w8a8)`,
      };
    }
    return { supported: true, reason: `MindIE on Ascend with ${query.quant}` };
  };

  const launch = (input: EngineLaunchInput): LaunchPlan => {
    const spec = parseLaunchSpec(input);
    const ports = mindiePorts(spec.port);
    const env: Record<string, string> = {
      MIES_CONFIG_JSON_PATH: 'mindie-config.json',
      MIES_SERVICE_MONITOR_MODE: '1',
    };
    if (spec.deviceIndices.length > 0) env['ASCEND_RT_VISIBLE_DEVICES'] = spec.deviceIndices.join(',');
    if (spec.multiNode) {
      // MindIE multi-node also needs the HCCL rank table (RANK_TABLE_FILE) the site's admin provides.
      env['MIES_CONTAINER_IP'] = spec.host;
      env['MASTER_IP'] = spec.multiNode.masterAddr;
    }
    return {
      command: spec.executable ?? mindieDaemonPath,
      args: [],
      env: { ...env, ...spec.env },
      files: [{ path: 'mindie-config.json', content: `${JSON.stringify(mindieConfig(spec), null, 2)}\n` }],
      port: ports.port,
      healthPath: '/v2/health/ready',
      metricsPath: '/metrics',
      metricsPort: ports.metricsPort,
      openAiBaseUrl: (spec.multiNode?.nodeRank ?? 0) === 0 ? `http://${spec.host}:${ports.port}/v1` : null,
    };
  };

  return {
    apiVersion: 1,
    id: 'mindie',
    displayName: 'Huawei MindIE',
    supports,
    launch,
    parseHealth: (status, body) => httpHealth(status, body, { emptyBodyIsLoading: true }),
    parseMetrics: (text) => loadFromMetrics(text, mindieMetricNames),
  };
}
