/**
 * The per-room gateway's API keys: the list of keys that are not revoked, pulled from the control plane
 * (`GET /api/v1/gateway/keys`) every `pollMs`, kept in memory and on disk (0600; hashes only, never
 * secrets) so that the room's users keep working while the control plane is unreachable. A secret is
 * looked up by its sha256 hex and compared in constant time. A revoked key stops working at the next
 * pull. An unknown secret is looked up again after a pull that starts after it arrived (one every
 * `missPullMs` at most, shared by every unknown secret that waits for it; a pull in flight is waited for
 * first), so a key created a moment ago works at once however many unknown secrets come before it.
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import { hashesEqual, hashSecret } from '../../http/bearer-secret.js';
import type { KeyPrincipal } from '../../spec/api-keys.js';
import { EdgeFleetError } from '../../spec/edgefleet-error.js';
import { parseGatewayKeys, type GatewayKeyEntry } from '../../spec/gateway-sync.js';
import type { Logger } from '../../telemetry/logger.js';
import type { ControlPlaneClient } from './control-plane-client.js';
import { DiskCache } from './disk-cache.js';
import { PollLoop, withinMs } from './poll-loop.js';

interface CachedKeys {
  fetchedAtMs: number;
  keys: GatewayKeyEntry[];
}

export interface HttpKeyLookupOptions {
  client: ControlPlaneClient;
  /** `<home>/gateway-cache/keys.json`. */
  cachePath: string;
  log: Logger;
  /** Default 5000. */
  pollMs?: number;
  /** An unknown secret pulls the list again when the last pull is older than this. Default 1000. */
  missPullMs?: number;
  /** Longest a lookup waits for such a pull. Default `missPullMs` + 1000. */
  lookupWaitMs?: number;
}

export class HttpKeyLookup {
  private keys = new Map<string, GatewayKeyEntry>();
  private fetchedAtMs = 0;
  private loaded = false;
  /** When a lookup of an unknown secret last asked for a pull (the regular pulls do not count). */
  private lastMissPullAtMs = 0;
  private refusalLogged = false;
  private pulling: Promise<void> | undefined;
  /** The pull that unknown secrets wait for, until it starts (and the timer that starts it). */
  private missPull: Promise<void> | undefined;
  private missTimer: NodeJS.Timeout | undefined;
  private readonly loop: PollLoop;
  private readonly cache: DiskCache<CachedKeys>;
  private readonly failures: Counter;
  private readonly metrics: (Gauge | Counter)[] = [];

  constructor(private readonly options: HttpKeyLookupOptions) {
    this.cache = new DiskCache(options.cachePath, (value) => {
      const { fetchedAtMs, keys } = value as { fetchedAtMs?: unknown; keys?: unknown };
      if (typeof fetchedAtMs !== 'number') throw new Error('fetchedAtMs missing');
      return { fetchedAtMs, keys: parseGatewayKeys({ object: 'list', builtAtMs: 0, data: keys }).data };
    });
    this.loop = new PollLoop(options.pollMs ?? 5000, () => this.pull());
    const registers: Registry[] = [];
    const ageMs = () => this.ageMs();
    this.metrics.push(
      new Gauge({
        name: 'edgefleet_gateway_key_list_age_seconds',
        help: 'Time since the API key list was last pulled from the control plane (-1: never)',
        registers,
        aggregator: 'max',
        collect() {
          const age = ageMs();
          this.set(age === null ? -1 : age / 1000);
        },
      }),
    );
    this.failures = new Counter({
      name: 'edgefleet_gateway_key_sync_failures_total',
      help: 'API key list pulls from the control plane that failed',
      registers,
    });
  }

  /** Loads the disk cache, tries one pull, then pulls every `pollMs`. */
  async start(): Promise<void> {
    const cached = await this.cache.load();
    if (cached.value) this.replace(cached.value.keys, cached.value.fetchedAtMs);
    else if (cached.error !== undefined) {
      this.options.log.warn({ err: cached.error, path: this.cache.path }, 'key cache unreadable; ignored');
    }
    await this.pull().catch(() => undefined);
    this.loop.start();
  }

  stop(): void {
    this.loop.stop();
    clearTimeout(this.missTimer); // lookups waiting for it give up at their deadline
  }

  /** Adds this source's gauges and counter to a registry (the gateway's, for its /metrics). */
  registerMetrics(registry: Registry): void {
    for (const metric of [...this.metrics, this.failures]) registry.registerMetric(metric);
  }

  /** Milliseconds since the list was pulled from the control plane; null when there is none. */
  ageMs(): number | null {
    return this.fetchedAtMs === 0 ? null : Math.max(0, Date.now() - this.fetchedAtMs);
  }

  /** How many keys are known. */
  get size(): number {
    return this.keys.size;
  }

  /** The principal of a secret; null when the key is unknown or revoked. Pass as KeyGuard's `lookup`. */
  readonly lookup = async (secret: string): Promise<KeyPrincipal | null> => {
    const hash = hashSecret(secret);
    // Refused: ask again (as often as for an unknown key), since the control plane may accept it again.
    const refusedBefore = this.options.client.credentialRefused !== null;
    const found = refusedBefore ? null : this.find(hash);
    if (found) return found;
    const missPullMs = this.options.missPullMs ?? 1000;
    const deadline = Date.now() + (this.options.lookupWaitMs ?? missPullMs + 1000);
    const within = (pull: Promise<void>) =>
      withinMs(
        pull.catch(() => undefined),
        Math.max(0, deadline - Date.now()),
        () => undefined,
      );
    // A pull in flight may have started after the key was created (a burst of a new key's requests).
    if (this.pulling && !refusedBefore && this.loaded) {
      await within(this.pulling);
      const known = this.find(hash);
      if (known) return known;
    }
    await within(this.pullForMiss(missPullMs));
    const refused = this.options.client.credentialRefused;
    if (refused !== null) {
      // The control plane said no to this gateway itself: it can no longer learn of revoked keys, so it
      // checks none (fails closed) rather than trust its cached list for ever.
      throw new EdgeFleetError(
        'store_unavailable',
        `this gateway's own key was refused by its control plane (${refused}); it checks no API key ` +
          'until the control plane accepts it again (start it with a valid gateway key)',
      );
    }
    const again = this.find(hash);
    if (again) return again;
    if (!this.loaded) {
      throw new EdgeFleetError(
        'store_unavailable',
        'this gateway has not loaded the API keys from its control plane yet; retry shortly',
      );
    }
    return null;
  };

  private find(hash: string): KeyPrincipal | null {
    const entry = this.keys.get(hash);
    if (!entry) return null;
    if (!hashesEqual(entry.keyHash, hash)) return null;
    const { keyHash: _hash, ...principal } = entry;
    // The ledger totals in the list are as of the pull's start, on this process's clock.
    return { ...principal, tokensUsedAtMs: this.fetchedAtMs };
  }

  private replace(keys: readonly GatewayKeyEntry[], fetchedAtMs: number): void {
    this.keys = new Map(keys.map((k) => [k.keyHash, k]));
    this.fetchedAtMs = fetchedAtMs;
    this.loaded = true;
  }

  private pull(): Promise<void> {
    this.pulling ??= this.pullOnce().finally(() => (this.pulling = undefined));
    return this.pulling;
  }

  /**
   * The next pull for unknown secrets: at once when the last one is `missPullMs` old, else when it will
   * be (every secret that misses meanwhile waits for the same one). Without a loaded list: at once.
   */
  private pullForMiss(missPullMs: number): Promise<void> {
    if (!this.loaded) {
      this.lastMissPullAtMs = Date.now();
      return this.pullAfterCurrent();
    }
    this.missPull ??= (async () => {
      const waitMs = Math.max(0, this.lastMissPullAtMs + missPullMs - Date.now());
      // Always a turn at least: `missPull` is set when this first waits, and cleared after.
      await new Promise((resolve) => (this.missTimer = setTimeout(resolve, waitMs).unref()));
      this.missPull = undefined;
      this.lastMissPullAtMs = Date.now();
      return this.pullAfterCurrent();
    })();
    return this.missPull;
  }

  /** A pull that starts after the one in flight, if any: that one may predate a key created since. */
  private async pullAfterCurrent(): Promise<void> {
    await this.pulling?.catch(() => undefined);
    return this.pull();
  }

  private async pullOnce(): Promise<void> {
    const startedAtMs = Date.now();
    let keys: GatewayKeyEntry[];
    try {
      keys = parseGatewayKeys(await this.options.client.getJson('/api/v1/gateway/keys')).data;
    } catch (error) {
      this.failures.inc();
      const refused = this.options.client.credentialRefused;
      if (refused !== null && !this.refusalLogged) {
        this.refusalLogged = true;
        this.options.log.error(
          { reason: refused },
          "the control plane refused this gateway's key: /v1 answers 503 until a pull is accepted again",
        );
      }
      throw error;
    }
    this.refusalLogged = false;
    this.replace(keys, startedAtMs);
    await this.cache.save({ fetchedAtMs: this.fetchedAtMs, keys }).catch((error: unknown) => {
      this.options.log.warn({ err: error, path: this.cache.path }, 'could not save the key cache');
    });
  }
}
