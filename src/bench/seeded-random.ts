/**
 * A small seeded pseudo-random generator (mulberry32) and the draws the bench needs from it, so that the
 * same `--seed` sends the same workload: uniform integers, normal variates (Box–Muller) and exponential gaps
 * for Poisson arrivals. Pure; no global state.
 */

export interface Random {
  /** Uniform in [0, 1). */
  next(): number;
}

export function seededRandom(seed: number): Random {
  let state = seed >>> 0;
  return {
    next() {
      state = (state + 0x6d2b79f5) >>> 0;
      let t = state;
      t = Math.imul(t ^ (t >>> 15), t | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    },
  };
}

/** A uniform integer in [min, max]. */
export function uniformInt(random: Random, min: number, max: number): number {
  return min + Math.floor(random.next() * (max - min + 1));
}

/** A standard normal variate. */
export function standardNormal(random: Random): number {
  const u = 1 - random.next();
  const v = random.next();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
}

/** An exponential gap with the given rate (events per second), in seconds: Poisson arrivals. */
export function exponentialGapS(random: Random, ratePerSecond: number): number {
  return -Math.log(1 - random.next()) / ratePerSecond;
}
