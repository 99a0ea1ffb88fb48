import type { HealthState, LaunchPlan } from './engine-adapter.js';
import type { EngineLaunchSpec } from './launch-spec.js';

/* The readers every adapter shares: /health status rules, device visibility (/metrics: spec/engine-metrics). */

function messageOf(body: string): string | null {
  try {
    const parsed: unknown = JSON.parse(body);
    if (typeof parsed !== 'object' || parsed === null) return null;
    const record = parsed as Record<string, unknown>;
    const error = record['error'];
    if (typeof error === 'string') return error;
    if (typeof error === 'object' && error !== null) {
      const message = (error as Record<string, unknown>)['message'];
      if (typeof message === 'string') return message;
    }
    const status = record['status'];
    return typeof status === 'string' ? status : null;
  } catch {
    return null;
  }
}

/**
 * The health rule shared by engines whose /health is "200 when serving": 2xx → ready; 503 → loading
 * when the body says it is loading (llama-server's `Loading model`), or when empty if the engine answers
 * 503 with no body while starting (SGLang); any other status → error.
 */
export function httpHealth(
  status: number,
  body: string,
  options: { loadingPattern?: RegExp; emptyBodyIsLoading?: boolean } = {},
): HealthState {
  if (status >= 200 && status < 300) return { state: 'ready' };
  const { loadingPattern = /load|not ready|starting|warm/i, emptyBodyIsLoading = false } = options;
  const message = messageOf(body) ?? (body.trim().slice(0, 200) || `HTTP ${status}`);
  if (status === 503 && (loadingPattern.test(message) || (emptyBodyIsLoading && body.trim() === ''))) {
    return { state: 'loading', message };
  }
  return { state: 'error', message: `HTTP ${status}: ${message}` };
}

/** Device-visibility variable for a vendor's runtime. */
export function visibleDevicesEnv(
  variable: 'CUDA_VISIBLE_DEVICES' | 'HIP_VISIBLE_DEVICES' | 'ASCEND_RT_VISIBLE_DEVICES',
  indices: readonly number[],
): Record<string, string> {
  return indices.length > 0 ? { [variable]: indices.join(',') } : {};
}

/**
 * The endpoints of an engine that serves health, metrics and the OpenAI API on its one port (llama.cpp,
 * vLLM, SGLang). `serving` false: a multi-node rank above 0, which runs model shards and serves no API.
 */
export function singlePortEndpoints(
  spec: Pick<EngineLaunchSpec, 'host' | 'port'>,
  serving = true,
): Pick<LaunchPlan, 'port' | 'healthPath' | 'metricsPath' | 'metricsPort' | 'openAiBaseUrl'> {
  return {
    port: spec.port,
    healthPath: '/health',
    metricsPath: '/metrics',
    metricsPort: spec.port,
    openAiBaseUrl: serving ? `http://${spec.host}:${spec.port}/v1` : null,
  };
}
