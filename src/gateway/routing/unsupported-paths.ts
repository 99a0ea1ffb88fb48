/**
 * Which instances answered 501 for which API path lately (embeddings asked of a chat engine), so the
 * router asks them for that path only when no other instance is left. Remembered for a while (an
 * engine restarted with other options is asked again), within a bound. Pure state over a given clock.
 */

/** How long a 501 for a path is remembered: an engine restarted with other options is asked again. */
const forgetAfterMs = 5 * 60_000;
/** A bound on that memory (paths × instances; expired entries are dropped first). */
const maxEntries = 4096;

export class UnsupportedPaths {
  /** `path target-key` → until when (ms) that instance is taken not to serve that path. */
  private readonly until = new Map<string, number>();

  /** The instance (by routing key) answered 501 for `path`. */
  mark(key: string, path: string, nowMs: number): void {
    if (this.until.size >= maxEntries) {
      for (const [entry, untilMs] of this.until) if (untilMs <= nowMs) this.until.delete(entry);
      if (this.until.size >= maxEntries) this.until.clear();
    }
    this.until.set(`${path} ${key}`, nowMs + forgetAfterMs);
  }

  /** Whether the instance is taken not to serve `path` now. */
  lacks(key: string, path: string, nowMs: number): boolean {
    if (this.until.size === 0) return false;
    const entry = `${path} ${key}`;
    const untilMs = this.until.get(entry);
    if (untilMs === undefined) return false;
    if (untilMs > nowMs) return true;
    this.until.delete(entry);
    return false;
  }
}
