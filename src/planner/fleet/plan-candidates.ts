import { engineCatalog } from '../../catalog/engines/engine-catalog.js';
import { findHardware } from '../../catalog/hardware/hardware-catalog.js';
import { findModel, modelCatalog } from '../../catalog/models/model-catalog.js';
import { quantizationCatalog } from '../../catalog/quantizations/quantization-catalog.js';
import { estimate } from '../estimate.js';
import type { EstimateInput } from '../estimate-input.js';
import { modelParameters } from '../model-parameters.js';
import { streamsWithinSlo } from '../recommend.js';
import type { PlanDemand, PlanInput } from './plan-input.js';

/** How one model runs best on one kind of server: the instance layout and what it serves. */
export interface InstanceConfig {
  model: string;
  hardware: string;
  devicesPerServer: number;
  engine: string;
  quant: string;
  devicesPerInstance: number;
  /** Requests/s one instance serves within the SLO (prefill + decode of the demand's shape). */
  capacityRequestsPerSecond: number;
  streams: number;
  powerWatts: number;
}

/** The models a demand may be served with: its model, or up to N catalog models at least its minimum size. */
export function demandModels(demand: PlanDemand, input: PlanInput): string[] {
  if (demand.model !== undefined) return [findModel(demand.model).id];
  const pool = (input.models ?? modelCatalog.map((m) => m.id)).map((modelId) => findModel(modelId));
  return pool
    .map((model) => ({ id: model.id, paramsB: modelParameters(model).totalParams / 1e9 }))
    .filter((model) => model.paramsB >= (demand.minModelParamsB ?? 0))
    .sort((a, b) => a.paramsB - b.paramsB || a.id.localeCompare(b.id))
    .slice(0, input.maxModelsPerDemand)
    .map((model) => model.id);
}

/** The demand shape and strictest SLO a model must meet (over all demands that may use it). */
export interface ModelRequirement {
  promptTokens: number;
  outputTokens: number;
  sloTtftMs: number | undefined;
  sloTpotMs: number | undefined;
}

const minOrUndefined = (values: (number | undefined)[]): number | undefined => {
  const defined = values.filter((v): v is number => v !== undefined);
  return defined.length ? Math.min(...defined) : undefined;
};

export function modelRequirements(input: PlanInput): Map<string, ModelRequirement> {
  const byModel = new Map<string, PlanDemand[]>();
  for (const demand of input.demand) {
    for (const model of demandModels(demand, input))
      byModel.set(model, [...(byModel.get(model) ?? []), demand]);
  }
  return new Map(
    [...byModel].map(([model, demands]) => [
      model,
      {
        promptTokens: Math.max(...demands.map((d) => d.promptTokens)),
        outputTokens: Math.max(...demands.map((d) => d.outputTokens)),
        sloTtftMs: minOrUndefined(demands.map((d) => d.sloTtftMs)),
        sloTpotMs: minOrUndefined(demands.map((d) => d.sloTpotMs)),
      },
    ]),
  );
}

/**
 * The best instance of `model` on servers of `devicesPerServer` × `hardware`: every engine × quantization
 * (except sub-4-bit) × instance size that fits one server and meets the SLO, keeping the one that serves the
 * most requests per device. Undefined when none does.
 */
export function bestInstance(
  modelId: string,
  hardwareId: string,
  devicesPerServer: number,
  requirement: ModelRequirement,
): InstanceConfig | undefined {
  const model = findModel(modelId);
  const hardware = findHardware(hardwareId);
  const contextTokens = Math.max(4096, requirement.promptTokens + requirement.outputTokens);
  let best: InstanceConfig | undefined;
  let bestPerDevice = 0;
  for (const engine of engineCatalog) {
    for (const quant of quantizationCatalog) {
      if (!engine.quantizations.includes(quant.id) || quant.bitsPerWeight < 4) continue;
      for (let size = 1; size <= devicesPerServer; size *= 2) {
        const input: EstimateInput = {
          model,
          quant,
          engine,
          hardware,
          count: size,
          batch: 1,
          contextTokens,
          promptTokens: requirement.promptTokens,
          outputTokens: requirement.outputTokens,
        };
        const single = estimate(input);
        if (!single.fits || contextTokens > model.contextLength) continue;
        if (requirement.sloTtftMs !== undefined && single.timeToFirstTokenMs > requirement.sloTtftMs)
          continue;
        const streams = streamsWithinSlo(
          input,
          engine.continuousBatching ? Math.max(1, single.maxConcurrency) : 1,
          requirement.sloTpotMs,
        );
        if (streams < 1) continue;
        const loaded = estimate({ ...input, batch: streams });
        const secondsPerRequest =
          requirement.promptTokens / loaded.prefill.tokensPerSecond +
          requirement.outputTokens / loaded.decode.tokensPerSecond;
        const capacity = 1 / secondsPerRequest;
        if (capacity / size > bestPerDevice) {
          bestPerDevice = capacity / size;
          best = {
            model: model.id,
            hardware: hardware.id,
            devicesPerServer,
            engine: engine.id,
            quant: quant.id,
            devicesPerInstance: size,
            capacityRequestsPerSecond: capacity,
            streams,
            powerWatts: hardware.powerWatts * size,
          };
        }
      }
    }
  }
  return best;
}
