/**
 * What this gateway has measured about instances and rooms: requests it has in flight to each instance
 * (with their send times, so engine load read at time T can be topped up with what was sent after T, and
 * their prompt sizes, so the prompt processing still ahead of a new request can be estimated), the moving
 * averages of each instance's time per output token and time per prompt token, each model's typical
 * completion length, and each site's round-trip time (from the health checker). Pure state over an
 * injected clock.
 */

/** An exponentially weighted moving average. */
export class Ewma {
  value: number | null = null;
  samples = 0;
  lastAtMs = 0;

  constructor(private readonly alpha: number) {}

  /** `restartAfterMs`: a sample that comes this long after the last one replaces the average. */
  add(sample: number, nowMs: number, restartAfterMs = Infinity): void {
    if (!Number.isFinite(sample) || sample < 0) return;
    const restart = this.value === null || nowMs - this.lastAtMs > restartAfterMs;
    this.value = restart ? sample : this.alpha * sample + (1 - this.alpha) * this.value!;
    this.samples += 1;
    this.lastAtMs = nowMs;
  }
}

/** What one answer showed of its instance's speed. */
export interface MeasuredAnswer {
  timePerOutputTokenMs: number | null;
  completionTokens: number;
  /** The prompt's tokens (as the engine reported them, or counted) and its attempt's time to first token. */
  promptTokens?: number;
  attemptTtftMs?: number | null;
  /** Sent to the instance while it had nothing in flight (`Router.isIdle`): its first token waited on no other. */
  sentToIdle?: boolean;
}

/**
 * Prompts shorter than this tell nothing of an instance's prompt processing speed (the first token's
 * fixed costs outweigh it), so they are not measured.
 */
const minPromptTokensForSpeed = 256;

/**
 * Time per prompt token shown by a streamed answer to a long prompt sent to an idle instance: its
 * attempt's time to first token over the prompt's tokens. Only an idle instance's answer counts (a
 * queue ahead of it would be counted twice: in the measure and again as the prompts ahead). The
 * round trip is not taken off: it is part of what a prompt costs there, and the health check's, on
 * a new connection each time, is longer than a pooled request's.
 */
function promptSpeedOf(answer: MeasuredAnswer): number | null {
  const { promptTokens = 0, attemptTtftMs = null, sentToIdle = false } = answer;
  if (!sentToIdle || attemptTtftMs === null || promptTokens < minPromptTokensForSpeed) return null;
  return attemptTtftMs / promptTokens;
}

/** A request in flight: when it was sent (epoch ms) and its prompt's estimated tokens. */
interface InFlightRequest {
  atMs: number;
  promptTokens: number;
}

interface InstanceRecord {
  /** The requests in flight, in the order they were sent. */
  inFlight: InFlightRequest[];
  timePerOutputTokenMs: Ewma;
  /** Prompt processing: time to first token over prompt tokens, from streamed answers to long prompts. */
  timePerPromptTokenMs: Ewma;
  /** Last use or measurement; records idle for long are dropped. */
  touchedAtMs: number;
}

const maxRecords = 10_000;

export class InstanceStats {
  private readonly instances = new Map<string, InstanceRecord>();
  private readonly completionTokens = new Map<string, Ewma>();
  private readonly siteRtt = new Map<string, Ewma>();

  /**
   * @param staleAfterMs an instance's speed with no answer for this long is stale: still its measure,
   *   but the next answer replaces it rather than moving it by `alpha` (the instance may have changed).
   */
  constructor(
    private readonly alpha: number,
    private readonly staleAfterMs = Infinity,
  ) {}

  /** Counts a request in flight to `key` until the returned function is called (idempotent). */
  begin(key: string, nowMs: number, promptTokens = 0): () => void {
    const record = this.record(key, nowMs);
    const request: InFlightRequest = { atMs: nowMs, promptTokens };
    record.inFlight.push(request);
    let done = false;
    return () => {
      if (done) return;
      done = true;
      const at = record.inFlight.indexOf(request);
      if (at >= 0) record.inFlight.splice(at, 1);
    };
  }

  /** Requests in flight to `key` sent at or after `sinceMs` (all of them without it). */
  inFlight(key: string, sinceMs = 0): number {
    const list = this.instances.get(key)?.inFlight ?? [];
    if (sinceMs <= 0) return list.length;
    let count = 0;
    for (const request of list) if (request.atMs >= sinceMs) count += 1;
    return count;
  }

  /**
   * The prompt processing still ahead at `key` (ms) of what this gateway sent there, at `msPerToken`:
   * the engine taken to process prompts one after another in the order they were sent, each from when
   * it arrived or when the one before it was done. Only what this gateway sent is known by size.
   */
  promptWorkAheadMs(key: string, msPerToken: number, nowMs: number): number {
    const list = this.instances.get(key)?.inFlight;
    if (!list || list.length === 0) return 0;
    let doneAtMs = -Infinity;
    // A send time after now (the clock stepped back) counts as now.
    for (const { atMs, promptTokens } of list)
      doneAtMs = Math.max(Math.min(atMs, nowMs), doneAtMs) + promptTokens * msPerToken;
    return Math.max(0, doneAtMs - nowMs);
  }

  /** Requests in flight to every instance together. */
  inFlightTotal(): number {
    let total = 0;
    for (const record of this.instances.values()) total += record.inFlight.length;
    return total;
  }

  /**
   * One answer's speed: time per output token after the first, time per prompt token (when the answer
   * tells it), and its completion length.
   */
  recordAnswer(key: string, model: string, answer: MeasuredAnswer, nowMs: number): void {
    const record = this.record(key, nowMs);
    const timePerPromptTokenMs = promptSpeedOf(answer);
    if (answer.timePerOutputTokenMs !== null)
      record.timePerOutputTokenMs.add(answer.timePerOutputTokenMs, nowMs, this.staleAfterMs);
    if (timePerPromptTokenMs !== null)
      record.timePerPromptTokenMs.add(timePerPromptTokenMs, nowMs, this.staleAfterMs);
    if (answer.completionTokens > 0) {
      let tokens = this.completionTokens.get(model);
      if (!tokens) this.completionTokens.set(model, (tokens = new Ewma(this.alpha)));
      tokens.add(answer.completionTokens, nowMs);
    }
  }

  /** The instance's time per output token once it has `minSamples`, and whether it is stale; else null. */
  timePerOutputTokenMs(
    key: string,
    minSamples: number,
    nowMs: number,
  ): { ms: number; stale: boolean } | null {
    return this.measure(this.instances.get(key)?.timePerOutputTokenMs, minSamples, nowMs);
  }

  private measure(ewma: Ewma | undefined, minSamples: number, nowMs: number) {
    if (!ewma || ewma.value === null || ewma.samples < Math.max(1, minSamples)) return null;
    return { ms: ewma.value, stale: nowMs - ewma.lastAtMs > this.staleAfterMs };
  }

  /** The instance's time per prompt token once it has `minSamples` measures, and whether it is stale. */
  timePerPromptTokenMs(
    key: string,
    minSamples: number,
    nowMs: number,
  ): { ms: number; stale: boolean } | null {
    return this.measure(this.instances.get(key)?.timePerPromptTokenMs, minSamples, nowMs);
  }

  /** The model's typical completion length so far, or null before its first measured answer. */
  typicalCompletionTokens(model: string): number | null {
    return this.completionTokens.get(model)?.value ?? null;
  }

  recordRtt(siteName: string, rttMs: number, nowMs: number): void {
    let ewma = this.siteRtt.get(siteName);
    if (!ewma) this.siteRtt.set(siteName, (ewma = new Ewma(this.alpha)));
    ewma.add(rttMs, nowMs);
  }

  rttMs(siteName: string): number | null {
    return this.siteRtt.get(siteName)?.value ?? null;
  }

  /** Every measured site and its round-trip time. */
  siteRtts(): { site: string; ms: number }[] {
    const rtts = [];
    for (const [site, ewma] of this.siteRtt) if (ewma.value !== null) rtts.push({ site, ms: ewma.value });
    return rtts;
  }

  private record(key: string, nowMs: number): InstanceRecord {
    let record = this.instances.get(key);
    if (!record) {
      if (this.instances.size >= maxRecords) this.dropIdle();
      record = {
        inFlight: [],
        timePerOutputTokenMs: new Ewma(this.alpha),
        timePerPromptTokenMs: new Ewma(this.alpha),
        touchedAtMs: nowMs,
      };
      this.instances.set(key, record);
    }
    record.touchedAtMs = nowMs;
    return record;
  }

  private dropIdle(): void {
    const idle = [...this.instances].filter(([, r]) => r.inFlight.length === 0);
    idle.sort((a, b) => a[1].touchedAtMs - b[1].touchedAtMs);
    for (const [key] of idle.slice(0, Math.ceil(maxRecords / 10))) this.instances.delete(key);
  }
}
