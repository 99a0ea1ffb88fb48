/**
 * The gateway's router: chooses the instance for each attempt (see rank-candidates.ts for the policy)
 * and learns from what happens — requests in flight, each answer's time per output token, failures
 * (circuit breakers), active health checks (up/down and round-trip time per site) — and keeps the retry
 * budget. Owns a HealthChecker, started and stopped with the gateway.
 */
import type { Registry } from 'prom-client';
import type { InstanceLoad, RouteInstance } from '../../spec/route-table.js';
import type { Logger } from '../../telemetry/logger.js';
import { CircuitBreakers } from './circuit-breaker.js';
import { RegionMap, resolveClientRegion, type ClientFacts, type RegionSource } from './client-region.js';
import { HealthChecker, type HealthTarget } from './health-checker.js';
import { InstanceSeries } from './instance-series.js';
import { InstanceStats, type MeasuredAnswer } from './instance-stats.js';
import { prefixKeyOf, rendezvousPick } from './prefix-key.js';
import {
  rankCandidates,
  type CandidateFacts,
  type CandidateScore,
  type ReasonKind,
} from './rank-candidates.js';
import { RetryBudget } from './retry-budget.js';
import { UnsupportedPaths } from './unsupported-paths.js';
import type { RoutingConfig } from './routing-config.js';
import { RoutingMetrics } from './routing-metrics.js';

/** An instance is identified by id and URL, so a restarted engine on a new port is a fresh target. */
export const targetKey = (instance: RouteInstance): string => `${instance.id}@${instance.url}`;

export interface ChooseRequest {
  clientRegion: string | null;
  prefixKey?: string | undefined;
  /** Target keys already tried for this request. */
  exclude: ReadonlySet<string>;
  /** The API path asked for: instances that answered 501 for it lately come last (`onUnsupported`). */
  path?: string;
  /** The request's prompt in estimated tokens (0 or absent: not counted). */
  promptTokens?: number;
}

export interface Choice {
  instance: RouteInstance;
  kind: ReasonKind | 'unhealthy_fallback' | 'breaker_fallback';
  /** Why this one, for the debug log (built when called). */
  reason: () => string;
  scores: CandidateScore[];
}

/** What the meter measured of one answer. */
export interface AnswerMeasurement extends MeasuredAnswer {
  ttftMs: number | null;
}

/** An instance and its routing key. */
interface Target {
  key: string;
  instance: RouteInstance;
}

export type FailureKind = 'unreachable' | 'error_status' | 'busy' | 'broken';

export interface RouterOptions {
  registry: Registry;
  log: Logger;
  /** Every routed instance (all models), for the health checker. */
  targets: () => Promise<RouteInstance[]>;
  now?: () => number;
}

export class Router {
  private readonly stats: InstanceStats;
  private readonly breakers: CircuitBreakers;
  private readonly health: HealthChecker;
  private readonly budget: RetryBudget;
  private readonly regions: RegionMap;
  private readonly metrics: RoutingMetrics;
  private readonly series: InstanceSeries;
  /** Attempts waiting on an instance, told when it fails its health checks. */
  private readonly downWatchers = new Map<string, Set<() => void>>();
  /** Instances that answered 501 for a path lately. */
  private readonly unsupported = new UnsupportedPaths();
  /** The router's clock (ms; injectable for tests): what failover measures its waits with too. */
  readonly now: () => number;
  private turn = 0;

  constructor(
    readonly config: RoutingConfig,
    private readonly options: RouterOptions,
  ) {
    this.now = options.now ?? Date.now;
    this.stats = new InstanceStats(config.measurement.ewmaAlpha, config.measurement.remeasureAfterMs);
    this.metrics = new RoutingMetrics(options.registry, {
      inFlight: () => this.stats.inFlightTotal(),
      speeds: () => this.series.measured((key) => this.stats.timePerOutputTokenMs(key, 1, this.now())),
      promptSpeeds: () => this.series.measured((key) => this.stats.timePerPromptTokenMs(key, 1, this.now())),
      rtts: () => this.stats.siteRtts(),
    });
    this.series = new InstanceSeries(this.metrics, (key) => ({
      up: this.health.isUp(key),
      circuitOpen: this.breakers.stateOf(key, this.now()) !== 'closed',
    }));
    this.budget = new RetryBudget({
      ratio: config.retry.budgetRatio,
      minRetries: config.retry.budgetMinRetries,
      windowMs: config.retry.budgetWindowMs,
    });
    this.regions = new RegionMap(config.clientRegions);
    this.breakers = new CircuitBreakers(config.circuitBreaker, ({ key, from, to }) => {
      const labels = this.series.labelsOf(key) ?? { instance: key, site: '' };
      this.metrics.circuitTransitions.inc({ to });
      this.metrics.circuitOpen.set(labels, to === 'closed' ? 0 : 1);
      const log = to === 'open' ? options.log.warn.bind(options.log) : options.log.info.bind(options.log);
      log({ ...labels, from, to }, `circuit breaker ${to}`);
    });
    this.health = new HealthChecker(config.healthCheck, () => this.healthTargets(), {
      rtt: (target, rttMs) => this.stats.recordRtt(target.siteName, rttMs, this.now()),
      change: (target, up, detail) => {
        const labels = this.series.labelsOf(target.key) ?? { instance: target.key, site: target.siteName };
        this.metrics.instanceUp.set(labels, up ? 1 : 0);
        options.log.warn(
          { ...labels, detail },
          up ? 'instance passes health checks again' : 'instance fails health checks; skipped',
        );
        if (!up) for (const onDown of [...(this.downWatchers.get(target.key) ?? [])]) onDown();
      },
    });
  }

  /**
   * Calls `onDown` if the instance fails its health checks while the watch is held (until the returned
   * function is called): an attempt still waiting for its answer there can go elsewhere.
   */
  watchDown(instance: RouteInstance, onDown: () => void): () => void {
    const key = targetKey(instance);
    const watchers = this.downWatchers.get(key) ?? new Set<() => void>();
    this.downWatchers.set(key, watchers);
    watchers.add(onDown);
    return () => {
      watchers.delete(onDown);
      if (watchers.size === 0) this.downWatchers.delete(key);
    };
  }

  start(): void {
    if (this.config.healthCheck.enabled) this.health.start();
  }

  async stop(): Promise<void> {
    await this.health.stop();
  }

  /** Runs one round of health checks now (tests, and a gateway that wants verdicts before serving). */
  checkHealth(): Promise<void> {
    return this.health.checkAll();
  }

  /** The client's region: key, then header, then address, then this gateway's. */
  clientRegion(
    facts: ClientFacts,
    gatewayRegion: string | null,
  ): { region: string | null; source: RegionSource } {
    return resolveClientRegion(facts, this.regions, this.config.region ?? gatewayRegion);
  }

  prefixKey(body: unknown): string | undefined {
    return this.config.prefixAffinity.enabled
      ? prefixKeyOf(body, this.config.prefixAffinity.chars)
      : undefined;
  }

  /** The instance for the next attempt, or undefined when none may take it now. */
  choose(model: string, instances: readonly RouteInstance[], request: ChooseRequest): Choice | undefined {
    const nowMs = this.now();
    const config = this.config;
    const available: Target[] = [];
    const lacking: Target[] = [];
    const heldForAnswers: Target[] = [];
    /** Instances sitting out for another reason (busy, unreachable): worth waiting for. */
    let heldOtherwise = 0;
    const { path } = request;
    for (const instance of instances) {
      const key = targetKey(instance);
      this.series.remember(key, instance);
      if (request.exclude.has(key)) continue;
      if (!this.breakers.allows(key, nowMs)) {
        if (this.breakers.heldForAnswers(key)) heldForAnswers.push({ key, instance });
        else heldOtherwise += 1;
        continue;
      }
      const lacks = path !== undefined && this.unsupported.lacks(key, path, nowMs);
      (lacks ? lacking : available).push({ key, instance });
    }
    // Only instances that lately did not serve the path are left: ask one (it may serve it by now).
    if (available.length === 0) available.push(...lacking);
    let healthy = available.filter((t) => this.health.isUp(t.key));
    // No instance that passes its health checks is free, and every one that sits out does so for answering
    // with errors while it passes them: the errors may be about the requests (one client's request that
    // every engine refuses with a 500, retried on each instance), not the instances. Holding every other
    // client back until the breakers cool down would let one client stall the model; the request goes to
    // them anyway, and a success closes the breaker. Not while another sits out busy or unreachable (it is
    // waited for, as before).
    const heldUp = heldForAnswers.filter((t) => this.health.isUp(t.key));
    const breakerFallback = healthy.length === 0 && heldOtherwise === 0 && heldUp.length > 0;
    if (breakerFallback) healthy = heldUp;
    // When checks fail everywhere but the control plane says the instances run, trust the control plane.
    const fallback = healthy.length === 0 && available.length > 0;
    const pool = fallback ? available : healthy;
    const typical = this.stats.typicalCompletionTokens(model) ?? config.measurement.defaultCompletionTokens;
    // An instance whose prompt speed is not measured is assumed as fast as the fastest measured one.
    const { warmupSamples } = config.measurement;
    let fastestPrompt = Infinity;
    for (const t of pool) {
      const measured = this.stats.timePerPromptTokenMs(t.key, warmupSamples, nowMs);
      if (measured !== null) fastestPrompt = Math.min(fastestPrompt, measured.ms);
    }
    if (fastestPrompt === Infinity) fastestPrompt = config.measurement.defaultTimePerPromptTokenMs;
    const facts = pool.map((t) => this.factsOf(t, request.clientRegion, nowMs, fastestPrompt));
    const { prefixKey } = request;
    const ranking = rankCandidates(
      facts,
      {
        policy: config.policy,
        weights: config.weights,
        preferClientRegion: config.locality.preferClientRegion,
        saturatedKvCacheUsage: config.locality.saturatedKvCacheUsage,
        saturatedOutstanding: config.locality.saturatedOutstanding,
        affinity: config.prefixAffinity,
        defaultTimePerOutputTokenMs: config.measurement.defaultTimePerOutputTokenMs,
        typicalCompletionTokens: typical,
        promptTokens: request.promptTokens ?? 0,
      },
      this.turn++,
      prefixKey === undefined ? undefined : (keys) => rendezvousPick(prefixKey, keys),
      request.clientRegion === null ? undefined : instances.some((i) => i.region === request.clientRegion),
    );
    if (!ranking) return undefined;
    const { instance } = pool.find((t) => t.key === ranking.chosen)!;
    const kind = breakerFallback ? 'breaker_fallback' : fallback ? 'unhealthy_fallback' : ranking.kind;
    this.metrics.decisions.inc({ model, site: instance.siteName, reason: kind });
    const { why } = ranking;
    const reason = breakerFallback
      ? () => `every instance sits out for error answers and passes its health checks; ${why()}`
      : fallback
        ? () => `every instance fails health checks; ${why()}`
        : why;
    return { instance, kind, reason, scores: ranking.scores };
  }

  /**
   * The instance answered 501 for `path` (embeddings asked of a chat engine): for the next 5 minutes
   * it is asked for that path only when no other instance of the model is left to try.
   */
  onUnsupported(instance: RouteInstance, path: string): void {
    this.unsupported.mark(targetKey(instance), path, this.now());
  }

  private factsOf(
    { key, instance }: Target,
    clientRegion: string | null,
    nowMs: number,
    fastestPromptMs: number,
  ): CandidateFacts {
    const { measurement } = this.config;
    const load = this.freshLoad(instance, nowMs);
    const outstanding = load
      ? load.requestsRunning + load.requestsWaiting + this.stats.inFlight(key, Math.min(load.atMs, nowMs))
      : this.stats.inFlight(key);
    const speed = this.stats.timePerOutputTokenMs(key, measurement.warmupSamples, nowMs);
    // Like the output speed: a stale measure counts only while the instance has work to be judged by.
    const prompt = this.stats.timePerPromptTokenMs(key, measurement.warmupSamples, nowMs);
    const timePerPromptTokenMs =
      prompt === null || (prompt.stale && outstanding === 0) ? fastestPromptMs : prompt.ms;
    return {
      key,
      inClientRegion: clientRegion && instance.region ? instance.region === clientRegion : null,
      rttMs: this.stats.rttMs(instance.siteName),
      outstanding,
      kvCacheUsage: load ? load.kvCacheUsage : null,
      timePerOutputTokenMs: speed?.ms ?? null,
      speedStale: speed?.stale ?? false,
      promptWorkAheadMs: this.stats.promptWorkAheadMs(key, timePerPromptTokenMs, nowMs),
      timePerPromptTokenMs,
    };
  }

  /** The instance's measured times per prompt and output token (ms), the configured defaults until measured. */
  speedsOf(instance: RouteInstance): { promptMs: number; outputMs: number } {
    const { measurement } = this.config;
    const key = targetKey(instance);
    const nowMs = this.now();
    return {
      promptMs: this.stats.timePerPromptTokenMs(key, 1, nowMs)?.ms ?? measurement.defaultTimePerPromptTokenMs,
      outputMs: this.stats.timePerOutputTokenMs(key, 1, nowMs)?.ms ?? measurement.defaultTimePerOutputTokenMs,
    };
  }

  /**
   * Whether the instance has nothing in flight: none of this gateway's requests, and (when its engine's
   * load report is fresh) none running or waiting there. A request sent now gets its first token
   * without waiting on another, so its time to first token measures the instance's prompt speed.
   */
  isIdle(instance: RouteInstance): boolean {
    const key = targetKey(instance);
    if (this.stats.inFlight(key) > 0) return false;
    const load = this.freshLoad(instance, this.now());
    return !load || load.requestsRunning + load.requestsWaiting === 0;
  }

  /** The engine load its worker last reported, unless older than `loadMaxAgeMs` (then not known). */
  private freshLoad(instance: RouteInstance, nowMs: number): InstanceLoad | undefined {
    const { load } = instance;
    return load && nowMs - load.atMs <= this.config.measurement.loadMaxAgeMs ? load : undefined;
  }

  /**
   * Counts a request in flight to the instance until the returned function is called; `promptTokens`
   * (estimated) count as prompt processing ahead of the requests sent after it.
   */
  begin(instance: RouteInstance, promptTokens = 0): () => void {
    const key = targetKey(instance);
    const nowMs = this.now();
    const isTrial = this.breakers.onSend(key, nowMs);
    const release = this.stats.begin(key, nowMs, promptTokens);
    return () => {
      release();
      if (isTrial) this.breakers.onAbandon(key);
    };
  }

  /**
   * When the first of `instances` not in `exclude` comes out of its cooldown or open breaker, when each
   * of them sits one out; undefined when any of them may be asked sooner (none blocked, or a trial out).
   */
  blockedUntilMs(instances: readonly RouteInstance[], exclude: ReadonlySet<string>): number | undefined {
    const nowMs = this.now();
    let earliest: number | undefined;
    for (const instance of instances) {
      const key = targetKey(instance);
      if (exclude.has(key)) continue;
      const until = this.breakers.blockedUntilMs(key, nowMs);
      if (until === undefined) return undefined;
      earliest = earliest === undefined ? until : Math.min(earliest, until);
    }
    return earliest;
  }

  /**
   * When a request sent to `instance` now is its half-open breaker's trial: what closes the breaker as
   * soon as the instance answers (failover passes it to the forward as `onAnswered`).
   */
  trialVerdict(instance: RouteInstance): (() => void) | undefined {
    const key = targetKey(instance);
    if (!this.breakers.inTrial(key)) return undefined;
    return () => this.breakers.onTrialAnswered(key, this.now());
  }

  onSuccess(instance: RouteInstance, model: string, measured: AnswerMeasurement): void {
    const key = targetKey(instance);
    const nowMs = this.now();
    this.breakers.onSuccess(key, nowMs);
    this.stats.recordAnswer(key, model, measured, nowMs);
  }

  onFailure(instance: RouteInstance, kind: FailureKind): void {
    const key = targetKey(instance);
    if (kind === 'busy') this.breakers.onBusy(key, this.now());
    else this.breakers.onFailure(key, this.now(), kind === 'error_status');
  }

  /** Counts a request toward the retry budget. */
  onRequest(): void {
    this.budget.onRequest(this.now());
  }

  /** Takes a retry from the budget; false (counted) when it is spent. */
  tryRetry(): boolean {
    if (this.budget.tryRetry(this.now())) return true;
    this.metrics.retryBudgetExhausted.inc();
    return false;
  }

  private async healthTargets(): Promise<HealthTarget[]> {
    const seen = new Map<string, HealthTarget>();
    for (const instance of await this.options.targets()) {
      const key = targetKey(instance);
      seen.set(key, { key, url: instance.url, siteName: instance.siteName });
      this.series.remember(key, instance);
    }
    const keys = new Set(seen.keys());
    this.series.retain(keys);
    this.breakers.retain(keys);
    return [...seen.values()];
  }
}
