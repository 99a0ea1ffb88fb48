import { engineCatalog, findEngine, type EngineSpec } from '../../catalog/engines/engine-catalog.js';
import { findHardware } from '../../catalog/hardware/hardware-catalog.js';
import { hardwareKinds, hardwareVendors, type HardwareSpec } from '../../catalog/hardware/hardware-spec.js';
import { findModel } from '../../catalog/models/model-catalog.js';
import type { ModelSpec } from '../../catalog/models/model-spec.js';
import { findQuantization, type QuantizationSpec } from '../../catalog/quantizations/quantization-catalog.js';
import { incompatibilities } from '../../planner/estimate.js';
import { estimateDefaults, type EstimateInput } from '../../planner/estimate-input.js';
import { estimateMemory } from '../../planner/estimate-memory.js';
import type { SchedulerDeployment, SchedulerDevice } from './scheduler-types.js';

/** Engines tried, in this order, when a deployment names none: serving engines first, llama.cpp family last. */
export const enginePreference = [
  'vllm',
  'sglang',
  'trtllm',
  'mindie',
  'vllm-ascend',
  'llama.cpp',
  'ktransformers',
  'mlx',
  'ollama',
] as const;

/** Engines that run one instance over several nodes (vLLM/Ray, SGLang --nnodes, MindIE, vLLM Ascend). */
export const multiNodeEngines: readonly string[] = ['vllm', 'sglang', 'mindie', 'vllm-ascend'];

/** A device as the planner sees it: a catalog entry with the detected memory, or a memory-only stand-in. */
export interface ResolvedDevice {
  hardware: HardwareSpec;
  /** false: no catalog id matched, so only memory, vendor and kind are known. */
  known: boolean;
  /** Devices with the same key may form one tensor-parallel group. */
  groupKey: string;
}

/** What the planner says about one configuration, in the terms the scheduler needs. */
export interface Probe {
  /** Reasons it cannot run at all (engine/hardware/quant/heads/context), from the planner. */
  incompatible: string[];
  perDeviceBytes: number;
  usablePerDeviceBytes: number;
  hostBytes: number;
}

const asVendor = (vendor: string): HardwareSpec['vendor'] =>
  hardwareVendors.find((v) => v === vendor.toLowerCase()) ?? 'custom';
const asKind = (kind: string): HardwareSpec['kind'] =>
  hardwareKinds.find((k) => k === kind.toLowerCase()) ?? 'gpu';

/** The planner's hardware for a detected device; unknown ids become a memory-only spec. */
export function resolveDevice(device: SchedulerDevice): ResolvedDevice {
  const id = device.hardwareId ?? null;
  if (id !== null) {
    try {
      const hardware = { ...findHardware(id), memoryBytes: device.memoryBytes };
      return { hardware, known: true, groupKey: `${hardware.id}:${device.memoryBytes}` };
    } catch {
      // An id this build does not know: fall through to memory only.
    }
  }
  const hardware: HardwareSpec = {
    id: `memory-only:${device.memoryBytes}`,
    name: device.name,
    vendor: asVendor(device.vendor),
    kind: asKind(device.kind),
    memoryBytes: device.memoryBytes,
    memoryBandwidthBytesPerSecond: 100e9,
    fp16Flops: 10e12,
    fp8Flops: null,
    int8Ops: 20e12,
    powerWatts: 300,
    pricePerHourUsd: null,
    interconnectBytesPerSecond: 32e9,
    hostMemoryBytes: 0,
    nativeDtypes: ['f32', 'bf16', 'f16', 'int8'],
    source: `detected device "${device.name}" without a catalog id`,
  };
  return {
    hardware,
    known: false,
    groupKey: `${hardware.id}:${device.vendor}:${device.kind}:${device.name}`,
  };
}

/** A deployment resolved against the catalogs, with a memoized planner probe. */
export class DeploymentProbe {
  readonly model: ModelSpec;
  readonly quant: QuantizationSpec;
  /** The engines to try, in order (one when the deployment names it). */
  readonly engines: readonly EngineSpec[];
  /** Context per stream: the deployment's own, else the control plane's default. */
  readonly contextTokens: number;
  private readonly cache = new Map<string, Probe>();

  /** Throws EdgeFleetError (listing valid ids) for an unknown model, quant or engine. */
  constructor(
    private readonly deployment: SchedulerDeployment,
    defaultContextTokens: number,
  ) {
    this.contextTokens = deployment.contextTokens ?? defaultContextTokens;
    this.model = typeof deployment.model === 'string' ? findModel(deployment.model) : deployment.model;
    const native = this.model.nativeDtype === 'f32' ? 'f16' : this.model.nativeDtype;
    this.quant = findQuantization(deployment.quant ?? native);
    const named = deployment.engine ?? null;
    this.engines =
      named !== null
        ? [findEngine(named)]
        : enginePreference.map((id) => engineCatalog.find((e) => e.id === id)).filter((e) => e !== undefined);
  }

  /** The planner's memory estimate for `count` devices of this hardware with this engine. */
  probe(engine: EngineSpec, hardware: HardwareSpec, count: number): Probe {
    const key = `${engine.id}|${hardware.id}|${hardware.memoryBytes}|${hardware.vendor}|${hardware.kind}|${count}`;
    const cached = this.cache.get(key);
    if (cached) return cached;
    const input: EstimateInput = {
      model: this.model,
      quant: this.quant,
      engine,
      hardware,
      count,
      batch: this.deployment.batch ?? estimateDefaults.batch,
      contextTokens: this.contextTokens,
      promptTokens: estimateDefaults.promptTokens,
      outputTokens: estimateDefaults.outputTokens,
    };
    if (this.deployment.weightsBytes !== undefined) input.weightsBytes = this.deployment.weightsBytes;
    const memory = estimateMemory(input);
    const result: Probe = {
      incompatible: incompatibilities(input),
      perDeviceBytes: memory.perDeviceBytes,
      usablePerDeviceBytes: memory.usablePerDeviceBytes,
      hostBytes: memory.hostBytes,
    };
    this.cache.set(key, result);
    return result;
  }
}
