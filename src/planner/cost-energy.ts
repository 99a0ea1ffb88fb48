import type { HardwareSpec } from '../catalog/hardware/hardware-spec.js';

/**
 * What one web-search API query costs, to set an answer's cost beside: $5 per 1,000 queries (Brave Search API
 * "Base AI" plan and Google Programmable Search JSON API list this price in 2025).
 */
export const webSearchQueryPriceUsd = 0.005;

/** Cost and energy of tokens on an instance of `count` devices that runs at full power while it serves. */
export interface CostEnergy {
  energyJoulesPerToken: number | null;
  costPerMillionOutputTokensUsd: number | null;
  costPerMillionInputTokensUsd: number | null;
  /** One answer: its prompt's share of prefill plus its output's share of decode. */
  costPerAnswerUsd: number | null;
  energyJoulesPerAnswer: number | null;
  /** costPerAnswerUsd ÷ webSearchQueryPriceUsd. */
  answerCostInWebSearches: number | null;
}

export function costEnergy(options: {
  hardware: HardwareSpec;
  count: number;
  decodeTokensPerSecond: number;
  prefillTokensPerSecond: number;
  promptTokens: number;
  outputTokens: number;
}): CostEnergy {
  const { hardware, count, decodeTokensPerSecond, prefillTokensPerSecond } = options;
  if (!(decodeTokensPerSecond > 0) || !(prefillTokensPerSecond > 0)) {
    return {
      energyJoulesPerToken: null,
      costPerMillionOutputTokensUsd: null,
      costPerMillionInputTokensUsd: null,
      costPerAnswerUsd: null,
      energyJoulesPerAnswer: null,
      answerCostInWebSearches: null,
    };
  }
  const watts = hardware.powerWatts * count;
  const answerSeconds =
    options.promptTokens / prefillTokensPerSecond + options.outputTokens / decodeTokensPerSecond;
  const dollarsPerSecond =
    hardware.pricePerHourUsd === null ? null : (hardware.pricePerHourUsd * count) / 3600;
  const costPerAnswerUsd = dollarsPerSecond === null ? null : dollarsPerSecond * answerSeconds;
  return {
    energyJoulesPerToken: watts / decodeTokensPerSecond,
    costPerMillionOutputTokensUsd:
      dollarsPerSecond === null ? null : (dollarsPerSecond / decodeTokensPerSecond) * 1e6,
    costPerMillionInputTokensUsd:
      dollarsPerSecond === null ? null : (dollarsPerSecond / prefillTokensPerSecond) * 1e6,
    costPerAnswerUsd,
    energyJoulesPerAnswer: watts * answerSeconds,
    answerCostInWebSearches: costPerAnswerUsd === null ? null : costPerAnswerUsd / webSearchQueryPriceUsd,
  };
}
