/**
 * Decides when node-llama-cpp dispatches a batch. Its default ("next event-loop cycle") often fires
 * before every running stream has queued its next token, because each stream's sampling finishes in a
 * separate callback; the batch then splits into several decodes that each read all the weights, and
 * throughput at 4 streams halves. The gate waits until every active stream has queued its token (or a
 * short deadline passes, so a stream busy elsewhere never stalls the others), then dispatches once.
 */
export class BatchGate {
  private active = 0;
  private queuedCount: () => number = () => 0;
  private pending: (() => void) | null = null;
  private deadline = 0;
  private polling = false;

  constructor(private readonly maxWaitMs = 2) {}

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
