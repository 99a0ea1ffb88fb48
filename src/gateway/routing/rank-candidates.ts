/**
 * The routing policy as a pure function over what is known of each healthy candidate instance:
 *
 * 1. Locality: the candidates in the client's region that have capacity (KV cache and outstanding
 *    requests below the saturation limits); when there are none, every candidate (a spillover when
 *    the region has instances, all of them full).
 * 2. Prefix affinity: the rendezvous owner of the request's prefix key among those about as fast as the
 *    fastest (time per output token within `maxSlowdown` times) and about as near as the nearest
 *    (round trip within `maxExtraRttMs`), unless it has `maxOutstanding` requests outstanding, its KV
 *    cache is fuller than `maxKvCacheUsage`, or its prompt term (the prompts ahead of this one there,
 *    and this one) is more than `maxPromptWorkAheadMs` above the lowest among those peers (another
 *    client's long prompt is ahead there, or it processes this long prompt much slower).
 * 3. Least cost, in milliseconds of expected delay (each term times its weight):
 *      rtt    measured round trip to the instance's site
 *      work   outstanding requests × typical completion tokens × the instance's time per output token
 *             (token work ahead ÷ its measured token rate)
 *      speed  typical completion tokens × time per output token (a fast H200 beats a slow 910B)
 *      kv     KV-cache use (0–1) × the speed term (a full cache means waiting for memory)
 *      prompt the prompt processing ahead (what this gateway sent there and is not processed yet, by
 *             its estimated tokens) plus this request's own prompt, at the instance's time per prompt
 *             token (a short request avoids an instance busy with another client's long prompt)
 *    Costs within 1% (or 0.5 ms) of the best are a tie: the nearest of them (round trip within 1 ms of
 *    the nearest) get it, round robin.
 *
 * An unmeasured instance (fewer answers than the warm-up) is assumed as fast as the fastest measured one
 * and as near as the nearest, so it gets requests and is measured; with nothing measured every cost is
 * equal and requests spread round robin. An instance whose measure is stale (no answer for a while: it
 * may have changed) keeps it, but is taken as fast as the fastest while it has nothing outstanding, so it
 * gets one request at a time to be measured again rather than none (starved) or a burst.
 */

export interface CandidateFacts {
  /** The instance's routing key (id@url). */
  key: string;
  /** In the client's region: true/false; null when the client's or the instance's region is unknown. */
  inClientRegion: boolean | null;
  rttMs: number | null;
  /** Requests ahead of this one: the engine's running + waiting plus what this gateway sent since. */
  outstanding: number;
  kvCacheUsage: number | null;
  /** Measured and warm; null: not (yet) known. */
  timePerOutputTokenMs: number | null;
  /** The measure is old (no answer for a while). */
  speedStale?: boolean;
  /** Prompt processing ahead of this request there (ms): what this gateway sent and is not processed yet. */
  promptWorkAheadMs?: number;
  /** Its time per prompt token (ms): measured, else the fastest measured (the caller's choice); 0: unknown. */
  timePerPromptTokenMs?: number;
}

export interface RankSettings {
  policy: 'least-cost' | 'round-robin';
  weights: { rtt: number; work: number; speed: number; kvCache: number; prompt: number };
  preferClientRegion: boolean;
  saturatedKvCacheUsage: number;
  saturatedOutstanding: number;
  affinity: {
    enabled: boolean;
    maxOutstanding: number;
    maxKvCacheUsage: number;
    maxSlowdown: number;
    maxExtraRttMs: number;
    maxPromptWorkAheadMs: number;
  };
  defaultTimePerOutputTokenMs: number;
  typicalCompletionTokens: number;
  /** This request's prompt, in estimated tokens (0: unknown). */
  promptTokens?: number;
}

/** Bounded reason kinds (the `reason` label of the routing-decision metric). */
export type ReasonKind = 'single' | 'least_cost' | 'tie' | 'prefix_affinity' | 'round_robin' | 'spillover';

export interface CandidateScore {
  key: string;
  costMs: number;
  terms: { rttMs: number; workMs: number; speedMs: number; kvMs: number; promptMs: number };
}

export interface Ranking {
  chosen: string;
  kind: ReasonKind;
  /** The choice went outside the client's region (none there had capacity). */
  spilled: boolean;
  /** One line for the debug log (built only when asked: most requests are not logged at debug). */
  why: () => string;
  /** Costs of the considered candidates, best first. */
  scores: CandidateScore[];
}

const round = (value: number) => Math.round(value * 10) / 10;

/**
 * Picks one of `candidates` (non-empty); `turn` rotates ties. `regionHasInstances`: whether the model
 * has instances in the client's region at all, healthy or not (default: whether a candidate is there);
 * a request that leaves a region whose instances are down, full or tried already is a spillover.
 */
export function rankCandidates(
  candidates: readonly CandidateFacts[],
  settings: RankSettings,
  turn: number,
  prefixKeyOwner?: (keys: readonly string[]) => string | undefined,
  regionHasInstances?: boolean,
): Ranking | undefined {
  if (candidates.length === 0) return undefined;
  const hasCapacity = (c: CandidateFacts) =>
    (c.kvCacheUsage ?? 0) < settings.saturatedKvCacheUsage && c.outstanding < settings.saturatedOutstanding;
  const local = candidates.filter((c) => c.inClientRegion === true);
  const localOpen = local.filter(hasCapacity);
  const regionKnown = candidates.some((c) => c.inClientRegion !== null);
  let pool: readonly CandidateFacts[];
  let spilled = false;
  if (settings.preferClientRegion && localOpen.length > 0) pool = localOpen;
  else {
    const open = candidates.filter(hasCapacity);
    pool = open.length > 0 ? open : candidates;
    // Out of the region because its instances are full, down or tried; a region with none is no spill.
    const regionServes = regionHasInstances ?? local.length > 0;
    spilled = settings.preferClientRegion && regionServes && pool.some((c) => c.inClientRegion !== true);
  }
  pool = [...pool].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  const noneLocal = settings.preferClientRegion && regionKnown && !spilled && local.length === 0;
  const where = spilled
    ? 'outside the client region'
    : localOpen.length > 0
      ? 'in the client region'
      : noneLocal
        ? 'with none in the client region'
        : '';
  const count = pool.length;
  const of = () => `of ${count}${where ? ` ${where}` : ''}`;

  const scores = pool.map((c) => score(c, pool, settings)).sort((a, b) => a.costMs - b.costMs);
  const done = (chosen: string, kind: ReasonKind, why: () => string): Ranking => ({
    chosen,
    kind: spilled ? 'spillover' : kind,
    spilled,
    why: spilled ? () => `spillover: ${why()}` : why,
    scores,
  });

  if (pool.length === 1) return done(pool[0]!.key, 'single', () => `only candidate ${of()}`);
  if (settings.policy === 'round-robin') {
    return done(pool[turn % pool.length]!.key, 'round_robin', () => `round robin ${of()}`);
  }
  if (settings.affinity.enabled && prefixKeyOwner) {
    // Only instances about as fast as the fastest share prefixes (a slow one is no cache worth waiting
    // for), and about as near as the nearest (a far room is no cache worth its round trips).
    const { maxSlowdown } = settings.affinity;
    const fastest = Math.min(...scores.map((s) => s.terms.speedMs));
    const nearest = Math.min(...scores.map((s) => s.terms.rttMs));
    const peers = pool.filter((p) => {
      const terms = termsOf(scores, p.key);
      return (
        terms.speedMs <= fastest * maxSlowdown + 1e-9 &&
        terms.rttMs <= nearest + settings.affinity.maxExtraRttMs
      );
    });
    const owner =
      peers.length > 1 ? peers.find((c) => c.key === prefixKeyOwner(peers.map((p) => p.key))) : undefined;
    if (owner) {
      const promptMs = (key: string) => termsOf(scores, key).promptMs;
      const leastPromptMs = Math.min(...peers.map((p) => promptMs(p.key)));
      const loaded =
        owner.outstanding >= settings.affinity.maxOutstanding ||
        (owner.kvCacheUsage ?? 0) > settings.affinity.maxKvCacheUsage ||
        promptMs(owner.key) - leastPromptMs > settings.affinity.maxPromptWorkAheadMs;
      if (!loaded) return done(owner.key, 'prefix_affinity', () => `prefix owner ${of()}`);
    }
  }
  const best = scores[0]!;
  const tolerance = Math.max(0.5, best.costMs * 0.01);
  const even = scores.filter((s) => s.costMs - best.costMs <= tolerance);
  // Among even costs the nearest win (a burst spills to the nearest other room first), unless the
  // round trip is weighted 0 (switched off).
  const nearestTied = Math.min(...even.map((s) => s.terms.rttMs));
  const tied = settings.weights.rtt === 0 ? even : even.filter((s) => s.terms.rttMs <= nearestTied + 1);
  const pick = tied[turn % tied.length]!;
  const detail = () => {
    const next = scores.find((s) => s.key !== pick.key);
    const t = pick.terms;
    return (
      `cost ${round(pick.costMs)} ms (rtt ${round(t.rttMs)}, work ${round(t.workMs)}, ` +
      `speed ${round(t.speedMs)}, kv ${round(t.kvMs)}, prompt ${round(t.promptMs)})` +
      (next ? `; next ${next.key} ${round(next.costMs)} ms` : '')
    );
  };
  if (tied.length > 1) {
    return done(pick.key, 'tie', () => `tie of ${tied.length} ${of()}, round robin; ${detail()}`);
  }
  const nearestOf = even.length > 1 ? `nearest of ${even.length} even costs ` : '';
  return done(pick.key, 'least_cost', () => `least cost ${nearestOf}${of()}: ${detail()}`);
}

const termsOf = (scores: readonly CandidateScore[], key: string): CandidateScore['terms'] =>
  scores.find((s) => s.key === key)!.terms;

function score(c: CandidateFacts, pool: readonly CandidateFacts[], settings: RankSettings): CandidateScore {
  const measured = pool.map((p) => p.timePerOutputTokenMs).filter((v): v is number => v !== null);
  const fastest = measured.length > 0 ? Math.min(...measured) : settings.defaultTimePerOutputTokenMs;
  const own = c.timePerOutputTokenMs;
  const tpot = own === null || (c.speedStale === true && c.outstanding === 0) ? fastest : own;
  const rtts = pool.map((p) => p.rttMs).filter((v): v is number => v !== null);
  const rttMs = c.rttMs ?? (rtts.length > 0 ? Math.min(...rtts) : 0);
  const speedMs = settings.typicalCompletionTokens * tpot;
  const workMs = c.outstanding * speedMs;
  const kvMs = (c.kvCacheUsage ?? 0) * speedMs;
  const promptMs = (c.promptWorkAheadMs ?? 0) + (settings.promptTokens ?? 0) * (c.timePerPromptTokenMs ?? 0);
  const { weights: w } = settings;
  return {
    key: c.key,
    costMs: w.rtt * rttMs + w.work * workMs + w.speed * speedMs + w.kvCache * kvMs + w.prompt * promptMs,
    terms: { rttMs, workMs, speedMs, kvMs, promptMs },
  };
}
