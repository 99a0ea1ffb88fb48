import { stat } from 'node:fs/promises';
import { isAbsolute } from 'node:path';
import { ggufQuants } from '../../catalog/gguf-sources.js';
import { modelCatalog } from '../../catalog/models/model-catalog.js';
import type { EngineId } from '../../engines/adapter/engine-adapter.js';
import type { EngineLaunchInput } from '../../engines/adapter/launch-spec.js';
import type { DesiredInstance } from '../../spec/worker-protocol.js';

/**
 * How a worker turns a DesiredInstance into an engine launch: which adapter runs each catalog engine id,
 * which accelerator and device indices the allocation means on this node, and what model argument each
 * kind of engine gets.
 */

/** Catalog engine id (what the control plane sends) → the adapter that runs it on a worker. */
const adapterByEngine: Readonly<Record<string, EngineId>> = {
  'llama.cpp': 'embedded',
  embedded: 'embedded',
  'llama-server': 'llama-server',
  vllm: 'vllm',
  sglang: 'sglang',
  mindie: 'mindie',
  'vllm-ascend': 'vllm-ascend',
};

export function adapterIdFor(engine: string): EngineId | undefined {
  return adapterByEngine[engine.toLowerCase()];
}

/** Engines that read one GGUF file (resolved and downloaded by the worker). */
export function readsGguf(adapter: EngineId): boolean {
  return adapter === 'embedded' || adapter === 'llama-server';
}

/** A detected device of this node, as registered. */
export interface NodeDevice {
  index: number;
  vendor: string;
  kind: string;
}

export type Accelerator = NonNullable<EngineLaunchInput['accelerator']>;

const acceleratorByVendor: Readonly<Record<string, Accelerator>> = {
  nvidia: 'nvidia',
  amd: 'amd',
  hygon: 'hygon',
  huawei: 'huawei',
  apple: 'apple',
};

/**
 * What the allocated device indexes mean here: the accelerator runtime and the vendor-tool indices to make
 * visible. Only the CPU pseudo-device (or no known device) → `cpu` with no indices.
 */
export function placementOf(
  deviceIndexes: readonly number[],
  devices: readonly NodeDevice[],
): { accelerator: Accelerator; deviceIndices: number[] } {
  const allocated = devices.filter((d) => d.kind !== 'cpu' && deviceIndexes.includes(d.index));
  const vendor = allocated[0]?.vendor.toLowerCase();
  const accelerator = vendor === undefined ? undefined : acceleratorByVendor[vendor];
  if (accelerator === undefined) return { accelerator: 'cpu', deviceIndices: [] };
  return {
    accelerator,
    deviceIndices: allocated.filter((d) => d.vendor.toLowerCase() === vendor).map((d) => d.index),
  };
}

/** The catalog quant as the engine's `--quantization` method; undefined when the checkpoint says it itself. */
export function engineQuantization(instance: DesiredInstance): string | undefined {
  if (instance.quantization !== undefined) return instance.quantization;
  switch (instance.quant?.toLowerCase()) {
    case 'fp8':
      return 'fp8';
    case 'awq-int4':
      return 'awq';
    case 'gptq-int4':
      return 'gptq';
    default:
      return undefined;
  }
}

/** The GGUF reference for `resolveModel`: a catalog id gets the deployment's GGUF quant (`id:Q4_K_M`). */
export function ggufModelRef(instance: DesiredInstance): string {
  const ref = instance.modelRef;
  const quant = instance.quant?.toUpperCase();
  const isCatalogId = modelCatalog.some((m) => m.id === ref.toLowerCase());
  if (isCatalogId && quant !== undefined && (ggufQuants as readonly string[]).includes(quant)) {
    return `${ref}:${quant}`;
  }
  return ref;
}

/**
 * The model argument of engines that load checkpoints themselves (vLLM, SGLang, MindIE): an existing local
 * directory or file, a Hugging Face repo id (`org/name`, `hf:org/name`), or a catalog id (→ its repo).
 */
export async function checkpointModelArg(modelRef: string): Promise<string> {
  if (isAbsolute(modelRef)) {
    if (!(await stat(modelRef).catch(() => undefined))) {
      throw new Error(`model ${modelRef} does not exist on this node`);
    }
    return modelRef;
  }
  const spec = modelCatalog.find((m) => m.id === modelRef.toLowerCase());
  const repo = spec && /^https:\/\/huggingface\.co\/([^/]+\/[^/]+)/.exec(spec.source)?.[1];
  if (repo) return repo;
  const id = modelRef.replace(/^hf:/i, '');
  if (/^[\w.-]+\/[\w.-]+$/.test(id)) return id;
  throw new Error(
    `model "${modelRef}" is neither a local path, a Hugging Face repo id (org/name) nor a catalog model with a Hugging Face source`,
  );
}
