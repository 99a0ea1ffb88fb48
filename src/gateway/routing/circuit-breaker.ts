/**
 * Per-instance circuit breakers. Closed: requests flow; any failure makes the instance sit out a short
 * cooldown, and `failureThreshold` failures in a row open the breaker. Open: no requests for `openMs`.
 * Half-open (after that): exactly one trial request; its success closes the breaker, its failure opens it
 * again. The trial succeeds as soon as its answer reaches the client (not when a minutes-long answer
 * ends: until then every other request would be refused an instance that works), and the breaker then
 * closes on probation: one failure opens it again (the trial's own answer may still break, from an engine
 * that answers and dies), until a request completes. Pure state over an injected clock; the router asks
 * `allows` and reports outcomes. Each breaker knows whether its last failure was an answer (an error
 * status: the instance is reachable and serving) or no answer at all (unreachable, broken).
 */

export type BreakerState = 'closed' | 'open' | 'half-open';

export interface BreakerSettings {
  cooldownMs: number;
  failureThreshold: number;
  openMs: number;
}

interface Breaker {
  consecutiveFailures: number;
  /** Closed: skipped until then (cooldown). Open: until then, then half-open. */
  untilMs: number;
  open: boolean;
  trialInFlight: boolean;
  /** The last failure was an error answer (5xx), not an instance that could not be reached. */
  answered: boolean;
}

/** A state change, for metrics and logs. */
export interface BreakerTransition {
  key: string;
  from: BreakerState;
  to: BreakerState;
}

export class CircuitBreakers {
  private readonly breakers = new Map<string, Breaker>();

  constructor(
    private readonly settings: BreakerSettings,
    private readonly onTransition: (transition: BreakerTransition) => void = () => undefined,
  ) {}

  stateOf(key: string, nowMs: number): BreakerState {
    const breaker = this.breakers.get(key);
    if (!breaker?.open) return 'closed';
    return nowMs < breaker.untilMs ? 'open' : 'half-open';
  }

  /** Whether a request may go to the instance now (a half-open one takes one trial at a time). */
  allows(key: string, nowMs: number): boolean {
    const breaker = this.breakers.get(key);
    if (!breaker) return true;
    if (nowMs < breaker.untilMs) return false;
    return !(breaker.open && breaker.trialInFlight);
  }

  /** Until when the instance sits out (cooldown or open breaker); undefined when that is not up to time. */
  blockedUntilMs(key: string, nowMs: number): number | undefined {
    const breaker = this.breakers.get(key);
    return breaker && nowMs < breaker.untilMs ? breaker.untilMs : undefined;
  }

  /** A request was sent; true when it is a half-open breaker's trial. */
  onSend(key: string, nowMs: number): boolean {
    const breaker = this.breakers.get(key);
    if (!breaker?.open || nowMs < breaker.untilMs || breaker.trialInFlight) return false;
    this.onTransition({ key, from: 'open', to: 'half-open' });
    breaker.trialInFlight = true;
    return true;
  }

  /** The instance said it is busy (429): a cooldown, not a step toward opening. */
  onBusy(key: string, nowMs: number): void {
    const breaker = this.breakers.get(key);
    if (breaker?.open) return this.onFailure(key, nowMs);
    const cooling = breaker ?? {
      consecutiveFailures: 0,
      untilMs: 0,
      open: false,
      trialInFlight: false,
      answered: false,
    };
    cooling.untilMs = Math.max(cooling.untilMs, nowMs + this.settings.cooldownMs);
    cooling.answered = false;
    this.breakers.set(key, cooling);
  }

  /**
   * Whether the instance's last failure was an error answer (5xx): it is reachable and serving, and the
   * errors may be about the requests. Not after a 429 (busy) or no answer at all.
   */
  heldForAnswers(key: string): boolean {
    return this.breakers.get(key)?.answered === true;
  }

  /** Whether a half-open breaker's trial is out to the instance now. */
  inTrial(key: string): boolean {
    return this.breakers.get(key)?.trialInFlight === true;
  }

  /** A half-open breaker's trial answered: the breaker closes, on probation (one failure reopens it). */
  onTrialAnswered(key: string, nowMs: number): void {
    const breaker = this.breakers.get(key);
    if (!breaker?.open) return;
    const from = this.stateOf(key, nowMs);
    breaker.open = false;
    breaker.trialInFlight = false;
    breaker.untilMs = 0;
    breaker.consecutiveFailures = this.settings.failureThreshold - 1;
    this.onTransition({ key, from, to: 'closed' });
  }

  onSuccess(key: string, nowMs: number): void {
    const breaker = this.breakers.get(key);
    if (!breaker) return;
    const from = this.stateOf(key, nowMs);
    this.breakers.delete(key);
    if (breaker.open) this.onTransition({ key, from, to: 'closed' });
  }

  /** A failure: `answered` when the instance answered with an error status (it is reachable and serving). */
  onFailure(key: string, nowMs: number, answered = false): void {
    const breaker = this.breakers.get(key) ?? {
      consecutiveFailures: 0,
      untilMs: 0,
      open: false,
      trialInFlight: false,
      answered,
    };
    this.breakers.set(key, breaker);
    breaker.consecutiveFailures += 1;
    breaker.answered = answered;
    const { cooldownMs, failureThreshold, openMs } = this.settings;
    if (breaker.open) {
      // A failed trial (or a late failure of a request sent before the breaker opened).
      if (breaker.trialInFlight) this.onTransition({ key, from: 'half-open', to: 'open' });
      breaker.trialInFlight = false;
      breaker.untilMs = nowMs + openMs;
    } else if (breaker.consecutiveFailures >= failureThreshold) {
      breaker.open = true;
      breaker.untilMs = nowMs + openMs;
      this.onTransition({ key, from: 'closed', to: 'open' });
    } else {
      breaker.untilMs = nowMs + cooldownMs;
    }
    this.prune(nowMs);
  }

  /** A request ended with no verdict (the client went away): a half-open breaker may try again. */
  onAbandon(key: string): void {
    const breaker = this.breakers.get(key);
    if (breaker) breaker.trialInFlight = false;
  }

  /** Forgets instances that are no longer routed to (keys not in `live`). */
  retain(live: ReadonlySet<string>): void {
    for (const key of this.breakers.keys()) if (!live.has(key)) this.breakers.delete(key);
  }

  private prune(nowMs: number): void {
    if (this.breakers.size <= 10_000) return;
    for (const [key, breaker] of this.breakers) {
      if (!breaker.open && breaker.untilMs <= nowMs) this.breakers.delete(key);
    }
  }
}
