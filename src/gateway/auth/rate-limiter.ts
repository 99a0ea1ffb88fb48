/** What the key guard counts requests and tokens with; in-process or shared through Redis. */

export interface TakeResult {
  admitted: boolean;
  /** When refused: milliseconds until the same call would be admitted; 0 when admitted. */
  retryAfterMs: number;
}

export interface RateLimiter {
  /**
   * Sliding-window counter `key` over `windowMs`: when `cost` more fits under `limit` (see
   * sliding-window.ts `admits`; a null limit always fits), counts `cost` and admits. Atomic: two
   * gateways sharing the limiter never both take the last unit.
   */
  take(key: string, limit: number | null, cost: number, windowMs: number): Promise<TakeResult>;
  /** Adds to a counter without a window (a token budget); returns the new total. */
  addTotal(key: string, amount: number): Promise<number>;
  /** The counter `addTotal` keeps (0 when never added to). */
  total(key: string): Promise<number>;
  close(): Promise<void>;
}
