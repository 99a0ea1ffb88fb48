import type { HardwareKind, hardwareVendors } from '../../catalog/hardware/hardware-spec.js';
import type { EngineLaunchInput } from './launch-spec.js';
import type { EngineLoad } from '../../spec/engine-metrics.js';

/** The one load shape the router and scheduler read, whatever the engine (spec/engine-metrics.ts). */
export type { EngineLoad };

export const engineIds = ['embedded', 'llama-server', 'vllm', 'sglang', 'mindie', 'vllm-ascend'] as const;
export type EngineId = (typeof engineIds)[number];

export type ModelFormat = 'gguf' | 'safetensors';

/** What the scheduler asks an engine before placing an instance on a node. */
export interface EngineSupportQuery {
  hardwareKind: HardwareKind;
  vendor: (typeof hardwareVendors)[number];
  /** Catalog quantization id (`q4_k_m`, `fp8`, `w8a8`, `bf16`…). */
  quant: string;
  modelFormat: ModelFormat;
}

export type SupportResult = { supported: true; reason: string } | { supported: false; reason: string };

/** A file the worker must write before starting the process (MindIE's config.json). */
export interface LaunchFile {
  /** Relative to the instance's working directory. */
  path: string;
  content: string;
}

/** A pure description of the engine process; the worker spawns and supervises it. */
export interface LaunchPlan {
  command: string;
  args: string[];
  /** Added to the worker's environment. */
  env: Record<string, string>;
  files: LaunchFile[];
  port: number;
  healthPath: string;
  metricsPath: string;
  /** Port of /metrics when it is not the API port (MindIE). */
  metricsPort: number;
  /** `http://host:port/v1`, or null on nodes that join a multi-node group and serve no API. */
  openAiBaseUrl: string | null;
}

export type HealthState =
  { state: 'ready' } | { state: 'loading'; message: string } | { state: 'error'; message: string };

/**
 * Version 1 of the engine adapter contract (vercel/ai-style: a versioned spec every provider
 * implements). Adapters are pure: no I/O, no process spawning. Breaking changes bump `apiVersion`.
 */
export interface EngineAdapter {
  readonly apiVersion: 1;
  readonly id: EngineId;
  /** Human name for logs and docs. */
  readonly displayName: string;
  supports(query: EngineSupportQuery): SupportResult;
  /** Validates the input (throws EdgeFleetError `invalid_argument`) and describes the process. */
  launch(spec: EngineLaunchInput): LaunchPlan;
  parseHealth(status: number, body: string): HealthState;
  parseMetrics(text: string): EngineLoad;
}
