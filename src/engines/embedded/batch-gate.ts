/**
 * Keeps concurrent streams in one batch per decode step. node-llama-cpp decodes whatever is queued when
 * it looks: its dispatch (next event-loop cycle) and its decode loop (which goes on while anything is
 * queued) both often see only some streams, because each stream's sampling finishes in a separate
 * callback. Out of step, streams then stay out of step, every step is split into several decodes, and
 * llama.cpp splits partial multi-sequence batches further (measured on the 114M model, 1 thread: a
 * 4-token batch 24 ms, a 3-token batch 33 ms, a 1-token batch 12 ms).
 *
 * So streams meet before queueing their next token (`beforeNext`): a round opens when every stream in
 * the decode phase has arrived. A stream still decoding is always waited for (it arrives as soon as its
 * token is sampled); one busy with other work (its own JavaScript, a slow client) only up to `maxWaitMs`.
 * A stream's first evaluation (its prompt) does not wait, and no one waits for it. After a round opens,
 * streams queue on the next macrotask, once node-llama-cpp's decode loop has seen an empty queue and
 * let go, so the dispatch (`schedule`) finds them all queued together.
 *
 * `exclusive` makes room for work that needs the library's context lock between decodes (erasing a
 * slot's stale cache): the library holds that lock while anything is queued, so during such work
 * streams hold back their next token and the decode loop drains.
 */
type StreamState = 'prefill' | 'decoding' | 'working' | 'waiting';

export interface GateStream {
  /** Before queueing the next token: undefined means go on at once, else wait for the promise. */
  beforeNext(): Promise<void> | undefined;
  /** The token of the last evaluation arrived. */
  afterNext(): void;
  leave(): void;
}

export class BatchGate {
  private readonly streams = new Set<{ state: StreamState }>();
  private queuedCount: () => number = () => 0;
  private pendingDispatch: (() => void) | null = null;
  private dispatchDeadline = 0;
  private dispatchPolling = false;

  private round: { promise: Promise<void>; open: () => void } | null = null;
  private roundDeadline = 0;
  private roundPolling = false;

  private exclusiveCount = 0;
  private exclusiveDone: Promise<void> = Promise.resolve();
  private releaseExclusive: () => void = () => undefined;

  /**
   * `prefillChunk`: how many prompt tokens a prompt queues at a time while any stream is generating
   * (chunked prefill; see `promptPart`).
   */
  constructor(
    private readonly maxWaitMs = 2,
    readonly prefillChunk = Number.POSITIVE_INFINITY,
  ) {}

  /**
   * How many prompt tokens a prompt evaluated in parts queues next: the prefill chunk while any stream is
   * generating, so that each decode step holds their next tokens back by that much prompt at most (a
   * whole part is decoded before the library's loop lets a stream that just sampled join again); while
   * none is (other prompts do not count), `batchSize`.
   */
  promptPart(batchSize: number): number {
    for (const stream of this.streams) {
      if (stream.state !== 'prefill') return Math.max(1, Math.min(batchSize, this.prefillChunk));
    }
    return batchSize;
  }

  /** Tells the gate how many sequences have a decode queued right now. */
  bindQueueProbe(probe: () => number): void {
    this.queuedCount = probe;
  }

  /** Registers a generation; its first evaluation (the prompt) goes at once. */
  join(): GateStream {
    const stream = { state: 'prefill' as StreamState, started: false };
    this.streams.add(stream);
    const beforeNext = (): Promise<void> | undefined => {
      if (this.exclusiveCount > 0) return this.exclusiveDone.then(() => beforeNext());
      if (!stream.started) {
        stream.started = true; // a prompt never waits, and no one waits for it
        return undefined;
      }
      if (this.streams.size === 1) {
        stream.state = 'decoding'; // a lone stream has no one to meet: no event-loop hops
        return undefined;
      }
      stream.state = 'waiting';
      const round = this.currentRound();
      this.checkRound();
      return round;
    };
    return {
      beforeNext,
      afterNext: () => {
        stream.state = 'working';
        this.roundDeadline = Math.max(this.roundDeadline, performance.now() + this.maxWaitMs);
        this.checkRound();
      },
      leave: () => {
        this.streams.delete(stream);
        this.checkRound();
        this.pollDispatch();
      },
    };
  }

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

  /** Resolves once no exclusive work is pending (undefined: none is): a prompt evaluated in parts waits here. */
  exclusiveSettled(): Promise<void> | undefined {
    return this.exclusiveCount > 0 ? this.exclusiveDone : undefined;
  }

  /** node-llama-cpp's dispatchSchedule hook: dispatch once every stream that went ahead has queued. */
  schedule(dispatch: () => void): void {
    if (this.streams.size <= 1) {
      dispatch();
      return;
    }
    this.pendingDispatch = dispatch;
    this.dispatchDeadline = performance.now() + this.maxWaitMs;
    if (!this.dispatchPolling) {
      this.dispatchPolling = true;
      setImmediate(() => this.pollDispatch());
    }
  }

  private pollDispatch(): void {
    const dispatch = this.pendingDispatch;
    if (dispatch === null) {
      this.dispatchPolling = false;
      return;
    }
    let expected = 0;
    for (const stream of this.streams)
      if (stream.state === 'decoding' || stream.state === 'prefill') expected++;
    if (this.queuedCount() >= expected || performance.now() >= this.dispatchDeadline) {
      this.pendingDispatch = null;
      this.dispatchPolling = false;
      dispatch();
      return;
    }
    setImmediate(() => this.pollDispatch());
  }

  private currentRound(): Promise<void> {
    if (this.round === null) {
      let open: () => void = () => undefined;
      const promise = new Promise<void>((resolve) => (open = resolve)).then(
        // Queue only after the decode loop has looked at its queue (see the class comment).
        () => new Promise<void>((resolve) => setImmediate(resolve)),
      );
      this.round = { promise, open };
      this.roundDeadline = performance.now() + this.maxWaitMs;
    }
    return this.round.promise;
  }

  private checkRound(): void {
    if (this.round === null) return;
    let decoding = 0;
    let working = 0;
    for (const stream of this.streams) {
      if (stream.state === 'decoding') decoding++;
      else if (stream.state === 'working') working++;
    }
    if (decoding > 0 || (working > 0 && performance.now() < this.roundDeadline)) {
      if (working > 0 && !this.roundPolling) {
        this.roundPolling = true;
        setImmediate(() => {
          this.roundPolling = false;
          this.checkRound();
        });
      }
      return;
    }
    const { open } = this.round;
    this.round = null;
    for (const stream of this.streams) if (stream.state === 'waiting') stream.state = 'decoding';
    open();
  }
}
