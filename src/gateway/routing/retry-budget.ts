/**
 * The retry budget: retries may be at most `ratio` of the requests of the last `windowMs` plus
 * `minRetries`, so a dying room cannot multiply its load by the attempts per request. Counted in ten
 * time buckets (a sliding window without a list of timestamps). Pure over an injected clock.
 */

export interface RetryBudgetSettings {
  ratio: number;
  minRetries: number;
  windowMs: number;
}

const bucketCount = 10;

export class RetryBudget {
  private readonly requests = new Array<number>(bucketCount).fill(0);
  private readonly retries = new Array<number>(bucketCount).fill(0);
  private currentBucket = 0;
  private currentStartMs: number | null = null;
  private readonly bucketMs: number;

  constructor(private readonly settings: RetryBudgetSettings) {
    this.bucketMs = Math.max(1, Math.ceil(settings.windowMs / bucketCount));
  }

  /** Counts one request (its first attempt). */
  onRequest(nowMs: number): void {
    this.advance(nowMs);
    this.requests[this.currentBucket]! += 1;
  }

  /** Takes one retry from the budget: false (and nothing taken) when it is spent. */
  tryRetry(nowMs: number): boolean {
    this.advance(nowMs);
    const sum = (counts: number[]) => counts.reduce((a, b) => a + b, 0);
    const allowed = this.settings.minRetries + this.settings.ratio * sum(this.requests);
    if (sum(this.retries) + 1 > allowed) return false;
    this.retries[this.currentBucket]! += 1;
    return true;
  }

  private advance(nowMs: number): void {
    this.currentStartMs ??= nowMs;
    const steps = Math.floor((nowMs - this.currentStartMs) / this.bucketMs);
    if (steps <= 0) return;
    for (let i = 0; i < Math.min(steps, bucketCount); i++) {
      this.currentBucket = (this.currentBucket + 1) % bucketCount;
      this.requests[this.currentBucket] = 0;
      this.retries[this.currentBucket] = 0;
    }
    this.currentStartMs += steps * this.bucketMs;
  }
}
