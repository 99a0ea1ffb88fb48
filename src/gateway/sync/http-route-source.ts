/**
 * The per-room gateway's route table, pulled from the control plane (`GET /api/v1/gateway/routes`)
 * every `pollMs` and kept when a pull fails: the room keeps serving its instances while the control
 * plane is unreachable. The last good table is saved to disk (atomically) and loaded at start, so a
 * gateway restarted during an outage serves too. `refresh()` never waits longer than `refreshWaitMs`,
 * so a dead control plane never stalls a request. Exposes its age for /health and /metrics.
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import { parseGatewayRoutes } from '../../spec/gateway-sync.js';
import type { RouteTable } from '../../spec/route-table.js';
import type { Logger } from '../../telemetry/logger.js';
import type { ControlPlaneClient } from './control-plane-client.js';
import { DiskCache } from './disk-cache.js';
import { PollLoop, withinMs } from './poll-loop.js';

/** What the disk cache holds: the table and when this gateway pulled it (its own clock). */
export interface CachedRoutes {
  fetchedAtMs: number;
  table: RouteTable;
}

export interface HttpRouteSourceOptions {
  client: ControlPlaneClient;
  /** `<home>/gateway-cache/routes.json`. */
  cachePath: string;
  log: Logger;
  /** Default 1000. */
  pollMs?: number;
  /** Limit of one pull. Default 2000. */
  pullTimeoutMs?: number;
  /** Longest `refresh()` waits for a pull before answering the table it has. Default 1000. */
  refreshWaitMs?: number;
  /** Called when a pull succeeds after a failure (or for the first time): the control plane is back. */
  onReachable?: () => void;
  /** Called with each table taken into use (pulled, or loaded from the disk cache). */
  onTable?: (table: RouteTable) => void;
}

/** Where the current table came from. */
export type RouteTableOrigin = 'none' | 'disk-cache' | 'control-plane';

export class HttpRouteSource {
  private table: RouteTable = { builtAtMs: 0, models: [] };
  private fetchedAtMs = 0;
  private lastFailureAtMs = 0;
  private savedSignature = '';
  private savedAtMs = 0;
  private ok = false;
  private pulling: Promise<RouteTable> | undefined;
  private readonly loop: PollLoop;
  private readonly cache: DiskCache<CachedRoutes>;
  private readonly failures: Counter;
  private readonly metrics: (Gauge | Counter)[] = [];
  origin: RouteTableOrigin = 'none';

  constructor(private readonly options: HttpRouteSourceOptions) {
    this.cache = new DiskCache(options.cachePath, (value) => {
      const { fetchedAtMs, table } = value as { fetchedAtMs?: unknown; table?: unknown };
      if (typeof fetchedAtMs !== 'number') throw new Error('fetchedAtMs missing');
      return { fetchedAtMs, table: parseGatewayRoutes(table) };
    });
    this.loop = new PollLoop(options.pollMs ?? 1000, () => this.pull());
    const registers: Registry[] = [];
    const ageMs = () => this.ageMs();
    this.metrics.push(
      new Gauge({
        name: 'edgefleet_gateway_route_table_age_seconds',
        help: 'Time since the route table was last pulled from the control plane (-1: never)',
        registers,
        aggregator: 'max',
        collect() {
          const age = ageMs();
          this.set(age === null ? -1 : age / 1000);
        },
      }),
    );
    const reachable = () => this.reachable;
    this.metrics.push(
      new Gauge({
        name: 'edgefleet_gateway_control_plane_reachable',
        help: '1 when the last pull from the control plane succeeded, else 0',
        registers,
        aggregator: 'min',
        collect() {
          this.set(reachable() ? 1 : 0);
        },
      }),
    );
    this.failures = new Counter({
      name: 'edgefleet_gateway_route_sync_failures_total',
      help: 'Route table pulls from the control plane that failed',
      registers,
    });
  }

  /** Loads the disk cache, tries one pull, then pulls every `pollMs`. */
  async start(): Promise<void> {
    const cached = await this.cache.load();
    if (cached.value) {
      this.table = cached.value.table;
      this.fetchedAtMs = cached.value.fetchedAtMs;
      this.origin = 'disk-cache';
      this.options.onTable?.(this.table);
    } else if (cached.error !== undefined) {
      this.options.log.warn({ err: cached.error, path: this.cache.path }, 'route cache unreadable; ignored');
    }
    await this.pull().catch(() => undefined);
    this.loop.start();
  }

  stop(): void {
    this.loop.stop();
  }

  /** Adds this source's gauges and counter to a registry (the gateway's, for its /metrics). */
  registerMetrics(registry: Registry): void {
    for (const metric of [...this.metrics, this.failures]) registry.registerMetric(metric);
  }

  get(): Promise<RouteTable> {
    return Promise.resolve(this.table);
  }

  /** Whether a table was ever loaded (pulled, or read from the disk cache). */
  get loaded(): boolean {
    return this.origin !== 'none';
  }

  /** A pull now (shared with one in flight), answered within `refreshWaitMs` with the best table known. */
  refresh(): Promise<RouteTable> {
    if (!this.ok && Date.now() - this.lastFailureAtMs < (this.options.pollMs ?? 1000)) {
      return Promise.resolve(this.table);
    }
    const pulled = this.pull().catch(() => this.table);
    return withinMs(pulled, this.options.refreshWaitMs ?? 1000, () => this.table);
  }

  /** Whether the last pull succeeded. */
  get reachable(): boolean {
    return this.ok;
  }

  /** Milliseconds since the table was pulled from the control plane; null when there is none. */
  ageMs(): number | null {
    return this.fetchedAtMs === 0 ? null : Math.max(0, Date.now() - this.fetchedAtMs);
  }

  private pull(): Promise<RouteTable> {
    this.pulling ??= this.pullOnce().finally(() => (this.pulling = undefined));
    return this.pulling;
  }

  private async pullOnce(): Promise<RouteTable> {
    const { client, log } = this.options;
    try {
      const table = parseGatewayRoutes(
        await client.getJson('/api/v1/gateway/routes', this.options.pullTimeoutMs ?? 2000),
      );
      const wasOk = this.ok;
      this.table = table;
      this.fetchedAtMs = Date.now();
      this.origin = 'control-plane';
      this.ok = true;
      this.options.onTable?.(table);
      if (!wasOk) {
        log.info({ server: client.serverUrl }, 'control plane reachable; route table pulled');
        this.options.onReachable?.();
      }
      await this.save();
      return table;
    } catch (error) {
      this.failures.inc();
      this.lastFailureAtMs = Date.now();
      if (this.ok || this.fetchedAtMs === 0) {
        log.warn(
          { err: error instanceof Error ? error.message : String(error), origin: this.origin },
          'cannot pull the route table; serving the last one known',
        );
      }
      this.ok = false;
      throw error;
    }
  }

  /** Saves when the routes changed (instance loads aside), else at most every 30 s. */
  private async save(): Promise<void> {
    const signature = JSON.stringify([
      this.table.models.map((m) => [m.name, m.status, m.instances.map((i) => [i.id, i.url])]),
      this.table.sites?.map((s) => [s.id, s.name, s.region]),
    ]);
    if (signature === this.savedSignature && Date.now() - this.savedAtMs < 30_000) return;
    try {
      await this.cache.save({ fetchedAtMs: this.fetchedAtMs, table: this.table });
      this.savedSignature = signature;
      this.savedAtMs = Date.now();
    } catch (error) {
      this.options.log.warn({ err: error, path: this.cache.path }, 'could not save the route cache');
    }
  }
}
