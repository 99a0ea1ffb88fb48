/**
 * `--prompt-tokens` / `--output-tokens` values: `N` (fixed), `uniform:MIN-MAX` or `normal:MEAN,STD`
 * (rounded, clamped to ≥ 1), parsed into the results schema's TokenDistribution and sampled with a seeded
 * generator. Pure.
 */
import { EdgeFleetError } from '../spec/edgefleet-error.js';
import type { TokenDistribution } from '../spec/bench-result.js';
import { standardNormal, uniformInt, type Random } from './seeded-random.js';

const MAX_TOKENS = 1_000_000;

function positiveInt(text: string, flag: string, whole: string): number {
  const value = Number(text);
  if (!/^\d+$/.test(text.trim()) || !Number.isInteger(value) || value < 1 || value > MAX_TOKENS) {
    throw new EdgeFleetError(
      'invalid_argument',
      `--${flag}: expected a token count from 1 to ${MAX_TOKENS} in "${whole}"`,
      { param: flag },
    );
  }
  return value;
}

/** Parses `512`, `uniform:128-1024` or `normal:512,64`. */
export function parseTokenDistribution(text: string, flag: string): TokenDistribution {
  const [kind, rest] = text.includes(':') ? (text.split(':', 2) as [string, string]) : ['fixed', text];
  if (kind === 'fixed') return { kind: 'fixed', tokens: positiveInt(rest, flag, text) };
  if (kind === 'uniform') {
    const [min, max] = rest.split('-');
    if (min === undefined || max === undefined) {
      throw new EdgeFleetError('invalid_argument', `--${flag}: expected uniform:MIN-MAX, got "${text}"`);
    }
    const range = {
      kind: 'uniform' as const,
      min: positiveInt(min, flag, text),
      max: positiveInt(max, flag, text),
    };
    if (range.min > range.max) {
      throw new EdgeFleetError('invalid_argument', `--${flag}: MIN must not exceed MAX in "${text}"`);
    }
    return range;
  }
  if (kind === 'normal') {
    const [meanText, stdText] = rest.split(',');
    const std = Number(stdText);
    if (meanText === undefined || stdText === undefined || !Number.isFinite(std) || std < 0) {
      throw new EdgeFleetError('invalid_argument', `--${flag}: expected normal:MEAN,STD, got "${text}"`);
    }
    return { kind: 'normal', mean: positiveInt(meanText, flag, text), std };
  }
  throw new EdgeFleetError(
    'invalid_argument',
    `--${flag}: expected N, uniform:MIN-MAX or normal:MEAN,STD, got "${text}"`,
    { param: flag },
  );
}

/** Draws one token count from the distribution. */
export function sampleTokens(distribution: TokenDistribution, random: Random): number {
  switch (distribution.kind) {
    case 'fixed':
      return distribution.tokens;
    case 'uniform':
      return uniformInt(random, distribution.min, distribution.max);
    case 'normal':
      return Math.max(1, Math.round(distribution.mean + distribution.std * standardNormal(random)));
  }
}

/** The largest value the distribution can produce (normal: mean + 4 std), for sizing probes. */
export function maxTokens(distribution: TokenDistribution): number {
  switch (distribution.kind) {
    case 'fixed':
      return distribution.tokens;
    case 'uniform':
      return distribution.max;
    case 'normal':
      return Math.ceil(distribution.mean + 4 * distribution.std);
  }
}
