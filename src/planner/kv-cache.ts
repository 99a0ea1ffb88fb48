import type { EngineSpec } from '../catalog/engines/engine-catalog.js';
import type { ModelSpec } from '../catalog/models/model-spec.js';

/** Elements cached per token and layer: MLA latent (kv_lora_rank + rope dims), MLA expanded, or K and V. */
export function kvElementsPerTokenLayer(model: ModelSpec, engine: EngineSpec): number {
  if (model.mla) {
    if (engine.kvCache.mla === 'latent') return model.mla.kvLoraRank + model.mla.ropeHeadDim;
    const { nopeHeadDim, ropeHeadDim, vHeadDim } = model.mla;
    return model.attentionHeads * (nopeHeadDim + ropeHeadDim + vHeadDim);
  }
  return 2 * model.kvHeads * model.headDim;
}

/** Context as the engine allocates it: rounded up to its padding (llama.cpp: 256 tokens). */
export function paddedContext(contextTokens: number, engine: EngineSpec): number {
  const pad = engine.kvCache.paddingTokens;
  return Math.ceil(contextTokens / pad) * pad;
}

/** KV bytes of one token over all layers, whole model (before any split over devices). */
export function kvBytesPerToken(model: ModelSpec, engine: EngineSpec, bytesPerElement?: number): number {
  return (
    kvElementsPerTokenLayer(model, engine) *
    model.layers *
    (bytesPerElement ?? engine.kvCache.bytesPerElement)
  );
}

/**
 * The share of the KV cache one device holds when the model is split over `devices`:
 * layer split → its layers (the largest share: ceil(layers / devices));
 * tensor split → its heads for grouped-query attention (never less than one head, so small KV-head counts are
 * replicated), but the whole cache for MLA or engines that do not split KV (latent cache is per token).
 */
export function kvShareOnDevice(model: ModelSpec, engine: EngineSpec, devices: number): number {
  if (devices <= 1) return 1;
  if (engine.multiDeviceSplit === 'layer') return Math.ceil(model.layers / devices) / model.layers;
  if (model.mla || engine.kvCache.tensorParallel === 'none') return 1;
  return Math.max(1, model.kvHeads / devices) / model.kvHeads;
}

/** Bytes of KV cache one device needs for `sequences` sequences of `contextTokens` each. */
export function kvCacheBytesOnDevice(
  model: ModelSpec,
  engine: EngineSpec,
  devices: number,
  sequences: number,
  contextTokens: number,
  bytesPerElement?: number,
): number {
  const tokens = paddedContext(contextTokens, engine) * sequences;
  return tokens * kvBytesPerToken(model, engine, bytesPerElement) * kvShareOnDevice(model, engine, devices);
}
