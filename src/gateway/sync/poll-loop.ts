/**
 * Small timing helpers of the per-room gateway's sync: a poll loop that runs a task every `intervalMs`
 * (the next run starts after the previous one settled, so a slow control plane never piles up pulls),
 * and a bound on how long a caller waits for a promise.
 */
export class PollLoop {
  private timer: NodeJS.Timeout | undefined;
  private running = false;

  constructor(
    private readonly intervalMs: number,
    private readonly task: () => Promise<unknown>,
  ) {}

  start(): void {
    if (this.running) return;
    this.running = true;
    const tick = () => {
      void this.task()
        .catch(() => undefined)
        .finally(() => {
          if (this.running) this.timer = setTimeout(tick, this.intervalMs);
        });
    };
    this.timer = setTimeout(tick, this.intervalMs);
  }

  stop(): void {
    this.running = false;
    clearTimeout(this.timer);
    this.timer = undefined;
  }
}

/** `promise`, or `fallback()` when it has not settled within `ms` (the promise keeps running). */
export function withinMs<T>(promise: Promise<T>, ms: number, fallback: () => T): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<T>((resolve) => {
    timer = setTimeout(() => resolve(fallback()), ms);
  });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}
