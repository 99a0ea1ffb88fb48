/**
 * Decides when node-llama-cpp dispatches a batch. Its default ("next event-loop cycle") often fires
 * before every running stream has queued its next token, because each stream's sampling finishes in a
 * separate callback; the batch then splits into several decodes that each read all the weights, and
 * throughput at 4 streams halves. The gate waits until every active stream has queued its token (or a
 * short deadline passes, so a stream busy elsewhere never stalls the others), then dispatches once.
 *
 * It also makes room for work that needs node-llama-cpp's context lock between decodes, such as erasing
 * a slot's stale cache for a new request. The library holds that lock for as long as any decode is
 * queued, so while streams keep generating such work would wait until they all finish (seconds). During
 * `exclusive` work, streams pause before queueing their next token; the decode loop drains and lets go.
 */
export class BatchGate {
  private active = 0;
  private queuedCount: () => number = () => 0;
  private pending: (() => void) | null = null;
  private deadline = 0;
  private polling = false;

  private exclusiveCount = 0;
  private exclusiveDone: Promise<void> = Promise.resolve();
  private releaseExclusive: () => void = () => undefined;

  constructor(private readonly maxWaitMs = 2) {}

  /** Runs `work` while streams hold back their next token, so it gets the context lock promptly. */
  async exclusive<T>(work: () => Promise<T>): Promise<T> {
    if (this.exclusiveCount++ === 0) {
      this.exclusiveDone = new Promise((resolve) => (this.releaseExclusive = resolve));
    }
    try {
      return await work();
    } finally {
      if (--this.exclusiveCount === 0) this.releaseExclusive();
    }
  }

  /** A stream calls this before queueing its next token; it resolves at once unless exclusive work runs. */
  beforeNextToken(): Promise<void> | undefined {
    return this.exclusiveCount > 0 ? this.exclusiveDone : undefined;
  }

  /** Tells the gate how many sequences have a decode queued right now. */
  bindQueueProbe(probe: () => number): void {
    this.queuedCount = probe;
  }

  /** A generation loop started (enter) or ended (leave). */
  enter(): void {
    this.active++;
  }

  leave(): void {
    this.active = Math.max(0, this.active - 1);
    this.poll();
  }

  /** node-llama-cpp's dispatchSchedule hook. */
  schedule(dispatch: () => void): void {
    this.pending = dispatch;
    this.deadline = performance.now() + this.maxWaitMs;
    if (!this.polling) {
      this.polling = true;
      setImmediate(() => this.poll());
    }
  }

  private poll(): void {
    const dispatch = this.pending;
    if (dispatch === null) {
      this.polling = false;
      return;
    }
    if (this.queuedCount() >= this.active || performance.now() >= this.deadline) {
      this.pending = null;
      this.polling = false;
      dispatch();
      return;
    }
    setImmediate(() => this.poll());
  }
}
