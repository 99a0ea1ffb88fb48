/**
 * `--find-max-rate`: which request rate to try next. Starting from the first rate, it doubles while runs meet
 * the SLO (or halves while they miss it), then bisects between the highest rate that met it and the lowest
 * that missed until they are within `precision` (relative) of each other or `maxProbes` runs were made.
 * Pure: the caller runs each rate and feeds the outcome back.
 */

export interface RateProbe {
  rate: number;
  met: boolean;
}

export interface MaxRateSearch {
  startRate: number;
  /** Stop bisecting when high / low − 1 falls below this (default 0.1). */
  precision?: number;
  maxProbes?: number;
  /** Never try above this rate (default 1000/s). */
  ceilingRate?: number;
  /** Give up below this rate (default startRate / 64). */
  floorRate?: number;
}

/** The next rate to run, or null when the search is over. */
export function nextRate(probes: readonly RateProbe[], search: MaxRateSearch): number | null {
  const precision = search.precision ?? 0.1;
  const ceiling = search.ceilingRate ?? 1000;
  const floor = search.floorRate ?? search.startRate / 64;
  if (probes.length === 0) return search.startRate;
  if (probes.length >= (search.maxProbes ?? 12)) return null;
  const met = probes.filter((p) => p.met).map((p) => p.rate);
  const missed = probes.filter((p) => !p.met).map((p) => p.rate);
  const best = met.length > 0 ? Math.max(...met) : null;
  const lowestMiss = missed.length > 0 ? Math.min(...missed) : null;
  if (lowestMiss === null) {
    const next = Math.min(ceiling, best! * 2);
    return next > best! ? next : null;
  }
  if (best === null) {
    const next = lowestMiss / 2;
    return next >= floor ? next : null;
  }
  if (lowestMiss / best - 1 <= precision) return null;
  return round((best + lowestMiss) / 2);
}

/** The highest rate that met the SLO, or null. */
export function maxMetRate(probes: readonly RateProbe[]): number | null {
  const met = probes.filter((p) => p.met).map((p) => p.rate);
  return met.length > 0 ? Math.max(...met) : null;
}

function round(rate: number): number {
  return Number(rate.toPrecision(4));
}
