/**
 * The restart policy every engine supervisor shares: exponential backoff after each unexpected exit,
 * starting again from the first delay once the engine had stayed ready for `stableAfterMs`.
 */
export interface BackoffOptions {
  initialBackoffMs?: number;
  maxBackoffMs?: number;
  /** After this long ready, the backoff starts again from the beginning. */
  stableAfterMs?: number;
}

export class RestartBackoff {
  private consecutiveFailures = 0;
  private readyAt = 0;
  private restartCount = 0;

  constructor(private readonly options: BackoffOptions = {}) {}

  /** Restarts scheduled so far. */
  get restarts(): number {
    return this.restartCount;
  }

  markReady(now = Date.now()): void {
    this.readyAt = now;
  }

  /** Records an unexpected exit and returns how long to wait before the next start. */
  nextDelayMs(now = Date.now()): number {
    const stableMs = this.options.stableAfterMs ?? 60_000;
    if (this.readyAt > 0 && now - this.readyAt > stableMs) this.consecutiveFailures = 0;
    this.readyAt = 0;
    this.consecutiveFailures++;
    this.restartCount++;
    const initial = this.options.initialBackoffMs ?? 500;
    return Math.min(this.options.maxBackoffMs ?? 30_000, initial * 2 ** (this.consecutiveFailures - 1));
  }
}
