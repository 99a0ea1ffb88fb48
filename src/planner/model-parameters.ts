import type { ModelSpec } from '../catalog/models/model-spec.js';

/** Parameter counts of a model, split the way memory and speed need them. */
export interface ModelParameters {
  totalParams: number;
  /** Token embedding plus the output head (once when tied). */
  embeddingParams: number;
  /** Output head alone (read on every decode step; the embedding table is only gathered). */
  outputHeadParams: number;
  /** Everything in the transformer blocks. */
  blockParams: number;
  /** Routed experts of all MoE layers (what expert offload moves to the host). */
  routedExpertParams: number;
  /** One routed expert (gate, up and down projections). */
  expertParams: number;
  /** MoE layers (layers minus the leading dense ones). */
  moeLayers: number;
  /** Parameters one token runs through: blocks without unused experts, plus the output head. */
  activeParams: number;
}

/** Attention weights of one layer: MLA (DeepSeek) or grouped-query attention. */
function attentionParams(model: ModelSpec): number {
  const { hiddenSize: h, attentionHeads: heads } = model;
  if (model.mla) {
    const { kvLoraRank, qLoraRank, ropeHeadDim, nopeHeadDim, vHeadDim } = model.mla;
    const qHead = nopeHeadDim + ropeHeadDim;
    const q = qLoraRank === null ? h * heads * qHead : h * qLoraRank + qLoraRank + qLoraRank * heads * qHead;
    const kvA = h * (kvLoraRank + ropeHeadDim) + kvLoraRank;
    const kvB = kvLoraRank * heads * (nopeHeadDim + vHeadDim);
    const o = heads * vHeadDim * h;
    return q + kvA + kvB + o;
  }
  const q = h * heads * model.headDim;
  const kv = 2 * h * model.kvHeads * model.headDim;
  const o = heads * model.headDim * h;
  return q + kv + o;
}

/**
 * Counts a model's parameters from its architecture: embeddings (tied or not), attention (GQA or MLA),
 * dense FFN layers and MoE layers (routed + shared experts, router). Norms are included; biases are not.
 */
export function modelParameters(model: ModelSpec): ModelParameters {
  const h = model.hiddenSize;
  const outputHeadParams = model.vocabSize * h;
  const embeddingParams = model.tiedEmbeddings ? outputHeadParams : 2 * outputHeadParams;
  const attention = attentionParams(model);
  const norms = 2 * h;
  const denseFfn = 3 * h * model.ffnSize;
  let blockParams: number;
  let activeBlockParams: number;
  let routedExpertParams = 0;
  let expertParams = 0;
  let moeLayers = 0;
  if (model.moe) {
    const { routedExperts, sharedExperts, expertsPerToken, expertFfnSize, denseLayers } = model.moe;
    expertParams = 3 * h * expertFfnSize;
    moeLayers = Math.max(0, model.layers - denseLayers);
    const denseLayerCount = model.layers - moeLayers;
    const router = h * routedExperts;
    const moeShared = attention + norms + router + sharedExperts * expertParams;
    routedExpertParams = moeLayers * routedExperts * expertParams;
    blockParams =
      denseLayerCount * (attention + norms + denseFfn) + moeLayers * moeShared + routedExpertParams;
    activeBlockParams =
      denseLayerCount * (attention + norms + denseFfn) +
      moeLayers * (moeShared + expertsPerToken * expertParams);
  } else {
    blockParams = model.layers * (attention + norms + denseFfn);
    activeBlockParams = blockParams;
  }
  return {
    totalParams: embeddingParams + blockParams + h,
    embeddingParams,
    outputHeadParams,
    blockParams,
    routedExpertParams,
    expertParams,
    moeLayers,
    activeParams: activeBlockParams + outputHeadParams,
  };
}

/** Distinct experts a layer reads in one decode step when `batch` tokens each pick k of E experts. */
export function expertsTouched(routedExperts: number, expertsPerToken: number, batch: number): number {
  const pickedByNone = Math.pow(1 - expertsPerToken / routedExperts, Math.max(1, batch));
  return routedExperts * (1 - pickedByNone);
}
