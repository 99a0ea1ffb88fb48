/**
 * The sliding-window counter both rate limiters use (the in-process one and the Redis one, whose Lua
 * script mirrors `admits`): fixed windows of `windowMs` aligned to the epoch, and an estimate of the
 * last `windowMs` that weighs the previous window by the part of it still inside the sliding window.
 * Pure functions.
 */

/** Counts of the window that contains now and of the one before it. */
export interface WindowCounts {
  previous: number;
  current: number;
  /** Milliseconds since the current window began. */
  elapsedMs: number;
}

export function windowStartMs(nowMs: number, windowMs: number): number {
  return nowMs - (nowMs % windowMs);
}

/** The estimated count over the last `windowMs`. */
export function estimate(counts: WindowCounts, windowMs: number): number {
  return (counts.previous * (windowMs - counts.elapsedMs)) / windowMs + counts.current;
}

/**
 * Whether `cost` more fits under `limit`: estimate + cost ≤ limit; with cost 0 (a check before
 * anything is counted, e.g. tokens per minute) the estimate must be below the limit.
 */
export function admits(counts: WindowCounts, windowMs: number, limit: number, cost: number): boolean {
  const value = estimate(counts, windowMs);
  return cost > 0 ? value + cost <= limit : value < limit;
}

/** Milliseconds until `admits` turns true if nothing more is counted (0 when it already is). */
export function retryAfterMs(counts: WindowCounts, windowMs: number, limit: number, cost: number): number {
  if (admits(counts, windowMs, limit, cost)) return 0;
  const room = Math.max(0, cost > 0 ? limit - cost : limit);
  const { previous, current, elapsedMs } = counts;
  const leftInWindowMs = windowMs - elapsedMs;
  if (current <= room && previous > 0) {
    // Still in this window: the previous window's share shrinks linearly to 0.
    return Math.ceil(leftInWindowMs - ((room - current) * windowMs) / previous) + 1;
  }
  // Only in the next window, where the current count becomes the shrinking previous one.
  return Math.ceil(leftInWindowMs + windowMs * (1 - room / current)) + 1;
}
