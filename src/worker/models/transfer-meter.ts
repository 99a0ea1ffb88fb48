/** What a pull reports while it runs. `receivedBytes` includes bytes resumed from an earlier attempt. */
export interface PullProgress {
  receivedBytes: number;
  /** Null when the server did not say how big the file is. */
  totalBytes: number | null;
  /** Average over the last few seconds of this attempt; 0 until there is a measurement. */
  bytesPerSecond: number;
}

export interface TransferMeterOptions {
  onProgress?: ((progress: PullProgress) => void) | undefined;
  /** Report at most this often (the final report is always sent). */
  intervalMs?: number;
  /** Speed is measured over this sliding window. */
  windowMs?: number;
  now?: () => number;
}

/**
 * Counts bytes, measures speed over a sliding window and throttles progress callbacks, so that a
 * 64 KiB-chunk download of a 1 GB file calls back a few times a second, not 16,000 times.
 */
export class TransferMeter {
  private readonly samples: Array<{ atMs: number; bytes: number }> = [];
  private readonly intervalMs: number;
  private readonly windowMs: number;
  private readonly now: () => number;
  private lastReportMs = -Infinity;
  receivedBytes = 0;
  totalBytes: number | null = null;

  constructor(private readonly options: TransferMeterOptions = {}) {
    this.intervalMs = options.intervalMs ?? 200;
    this.windowMs = options.windowMs ?? 5_000;
    this.now = options.now ?? (() => performance.now());
  }

  /** Starts (or restarts) an attempt at `receivedBytes` already on disk. */
  start(receivedBytes: number, totalBytes: number | null): void {
    this.receivedBytes = receivedBytes;
    this.totalBytes = totalBytes;
    this.samples.length = 0;
    this.samples.push({ atMs: this.now(), bytes: receivedBytes });
    this.report(true);
  }

  add(bytes: number): void {
    this.receivedBytes += bytes;
    const atMs = this.now();
    this.samples.push({ atMs, bytes: this.receivedBytes });
    while (this.samples.length > 2 && atMs - (this.samples[1]?.atMs ?? atMs) > this.windowMs)
      this.samples.shift();
    this.report(false);
  }

  get bytesPerSecond(): number {
    const first = this.samples[0];
    const last = this.samples[this.samples.length - 1];
    if (!first || !last || last.atMs - first.atMs < 1) return 0;
    return ((last.bytes - first.bytes) * 1000) / (last.atMs - first.atMs);
  }

  /** Sends a progress report now if the throttle allows it, or always when `force` is set. */
  report(force: boolean): void {
    if (!this.options.onProgress) return;
    const atMs = this.now();
    if (!force && atMs - this.lastReportMs < this.intervalMs) return;
    this.lastReportMs = atMs;
    this.options.onProgress({
      receivedBytes: this.receivedBytes,
      totalBytes: this.totalBytes,
      bytesPerSecond: this.bytesPerSecond,
    });
  }
}
