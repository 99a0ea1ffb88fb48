import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { answerClientErrors } from '../../http/client-errors.js';
import { createHttpServer } from '../../http/create-http-server.js';
import { trackConnections, type TrackedConnections } from '../../http/graceful-close.js';
import { refuseForeignBrowserRequest } from '../../http/local-only.js';
import type { ServerTls } from '../../http/tls-options.js';
import type { CorsOrigins } from '../../http/cors.js';
import { onlyRead, sendError, sendJson } from '../../http/respond.js';
import { logRequestFailure } from '../../http/log-request-failure.js';
import { gatewaySyncRoles, metricsRoles } from '../../spec/api-keys.js';
import { clipped, EdgeFleetError } from '../../spec/edgefleet-error.js';
import type { Store } from '../../store/store.js';
import type { Logger } from '../../telemetry/logger.js';
import { requireAdmin, requireRole } from './authenticate.js';
import { DashboardFiles, defaultWebDir } from './dashboard-files.js';
import { handleManagement } from './management-routes.js';
import { InstanceLoads } from './instance-loads.js';
import { NodeEngines } from './node-engines.js';
import { InstanceLogs } from './instance-logs.js';
import { Reconciler, type ReconcileResult } from './reconciler.js';
import { ServerMetrics } from './server-metrics.js';
import { handleWorker } from './worker-routes.js';

/** Routes served beside the control plane in the same process (the gateway's `/v1/…`). */
export interface MountedRoutes {
  /** Handles a request whose path starts with one of `prefixes`; throws for the error responder. */
  handle(request: IncomingMessage, response: ServerResponse, path: string): Promise<void>;
  prefixes: readonly string[];
  /** Prometheus text appended to `/metrics`. */
  metrics(): Promise<string>;
  /** Web origins whose pages may call these routes (`--cors-origins`): `localOnly` lets their requests in. */
  cors?: CorsOrigins;
}

export interface ControlServerOptions {
  store: Store;
  log: Logger;
  /** Default 2000. */
  reconcileMs?: number;
  /** Default 15000. */
  nodeTimeoutMs?: number;
  /** Context tokens per instance (default 4096). */
  contextTokens?: number;
  /** Default 1 MiB. */
  maxBodyBytes?: number;
  /** The clock for heartbeats and the node timeout (tests move it). Default Date.now. */
  now?: () => number;
  /** The gateway, when it runs in this process. */
  mounted?: MountedRoutes;
  /** Where worker-reported engine loads are kept (share it with the route table). */
  loads?: InstanceLoads;
  /** Replaces the answer of `/health` (`edgefleet up` reports its local engine there). */
  health?: () => Promise<{ status: number; body: unknown }>;
  /** How long `/health` waits for the store's answer before it reports the store failing. Default 2000. */
  storeHealthTimeoutMs?: number;
  /** The built dashboard (index.html, assets/). Default: `EDGEFLEET_WEB_DIR`, else dist/web of this install. */
  webDir?: string;
  /** Listen with HTTPS (`--tls-cert`, `--tls-key`); default plain HTTP. */
  tls?: ServerTls;
  /**
   * `/metrics` without a credential (`edgefleet up` on loopback, where `/v1` needs none either).
   * Default false: an admin or metrics key.
   */
  openMetrics?: boolean;
  /**
   * Refuse what a web page in a browser may send against the user's will: a `Host` that is not loopback
   * (DNS rebinding) and an `Origin` other than this server's (src/http/local-only.ts). For a server that
   * needs no key for `/v1` (`edgefleet up` on loopback). Default false.
   */
  localOnly?: boolean;
  /** An external endpoint was registered or changed: the caller's health checks look at it now. */
  endpointsChanged?: () => void;
}

/** Management paths a room gateway calls (a `gateway` key may); the rest of `/api/v1` is admin only. */
function isGatewaySyncPath(path: string, method: string | undefined): boolean {
  return path.startsWith('/api/v1/gateway/') || (path === '/api/v1/usage/events' && method === 'POST');
}

/**
 * The control plane: management API (`/api/v1/…`, admin key; a gateway key for what room gateways
 * call), worker protocol (`/api/v1/worker/…`, node credentials), `/metrics` (admin or metrics key),
 * `/health` and the built dashboard (`/`, `/assets/…`, no credential) and the reconcile loop.
 * `start()` begins the loop; `close()` stops the loop and the HTTP server (the store stays open, it
 * belongs to the caller).
 */
export class ControlServer {
  readonly server: Server;
  private readonly connections: TrackedConnections;
  private draining: Promise<void> | undefined;
  readonly metrics: ServerMetrics;
  readonly reconciler: Reconciler;
  /** Engine loads from worker heartbeats, for the route table. */
  readonly loads: InstanceLoads;
  /** Engine log tails from worker heartbeats, for the dashboard. */
  readonly logs = new InstanceLogs();
  /** How many engines each node's worker last reported (a drained node runs none). */
  private readonly nodeEngines: NodeEngines;
  private timer: NodeJS.Timeout | undefined;
  private readonly reconcileMs: number;
  private readonly dashboard: DashboardFiles;

  constructor(private readonly options: ControlServerOptions) {
    this.metrics = new ServerMetrics(options.store);
    this.loads = options.loads ?? new InstanceLoads();
    this.nodeEngines = new NodeEngines(options.now);
    this.reconcileMs = options.reconcileMs ?? 2000;
    this.dashboard = new DashboardFiles(options.webDir ?? defaultWebDir());
    this.reconciler = new Reconciler({
      store: options.store,
      log: options.log.child({ component: 'reconciler' }),
      nodeTimeoutMs: options.nodeTimeoutMs ?? 15_000,
      contextTokens: options.contextTokens ?? 4096,
      ...(options.now && { now: options.now }),
    });
    this.server = createHttpServer((request, response) => void this.handle(request, response), options.tls);
    answerClientErrors(this.server);
    this.connections = trackConnections(this.server);
  }

  /** Starts the periodic reconcile loop. */
  start(): void {
    const tick = async () => {
      await this.reconcile().catch(() => undefined);
      if (this.timer) this.timer = setTimeout(() => void tick(), this.reconcileMs);
    };
    this.timer = setTimeout(() => void tick(), 0);
  }

  /** One reconcile pass (tests call this instead of waiting for the loop). */
  async reconcile(): Promise<ReconcileResult> {
    try {
      const result = await this.reconciler.reconcileOnce();
      this.metrics.reconciles.inc({ outcome: result.leader ? 'leader' : 'follower' });
      return result;
    } catch (error) {
      this.metrics.reconciles.inc({ outcome: 'error' });
      this.options.log.error({ err: error }, 'reconcile pass failed');
      throw error;
    }
  }

  /**
   * Stops accepting connections; answers in flight (the gateway's streams) are finished, for up to
   * `graceMs`, then every connection is closed (src/http/graceful-close.ts). Resolves when none is open.
   */
  drain(graceMs: number): Promise<void> {
    this.draining ??= this.connections.close(graceMs);
    return this.draining;
  }

  /**
   * Stops the loop and the HTTP server (at once, unless `drain` ran first), then waits for the reconcile
   * pass in flight and gives up the scheduler's leadership. Those two wait on the store: a caller that
   * must not hang on a stalled database bounds this promise (the server is closed by then whatever the
   * store does).
   */
  async close(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.drain(0);
    await this.reconciler.settled();
    await this.options.store.releaseLeadership('scheduler').catch(() => undefined);
  }

  private async handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const started = process.hrtime.bigint();
    const url = new URL(request.url ?? '/', 'http://localhost');
    const path = url.pathname;
    const route = path.startsWith('/api/v1/worker/')
      ? 'worker'
      : path.startsWith('/api/v1/')
        ? 'management'
        : path === '/health' || path === '/metrics'
          ? path.slice(1)
          : this.mountedPath(path)
            ? 'gateway'
            : this.dashboard.handles(path)
              ? 'dashboard'
              : 'other';
    try {
      await this.route(request, response, path, url.searchParams);
    } catch (error) {
      logRequestFailure(this.options.log, error, { method: request.method, path });
      sendError(response, error);
    } finally {
      this.metrics.requests.inc({ route, status: String(response.statusCode) });
      this.metrics.requestSeconds.observe({ route }, Number(process.hrtime.bigint() - started) / 1e9);
    }
  }

  /**
   * `/health` of `edgefleet server`: 200 `{status:'ok'}` when the store answers a query within
   * `storeHealthTimeoutMs`; else 200 `{status:'degraded', store:{ok:false, error}}`: the process still
   * serves (the gateway from its last route table and cached keys), but the management API, the
   * scheduler and usage shipping wait for the store.
   */
  private async storeHealth(): Promise<{ status: number; body: unknown }> {
    const timeoutMs = this.options.storeHealthTimeoutMs ?? 2000;
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
    });
    try {
      await Promise.race([this.options.store.schemaVersion(), timedOut]);
      return { status: 200, body: { status: 'ok' } };
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      return { status: 200, body: { status: 'degraded', store: { ok: false, error: message } } };
    } finally {
      clearTimeout(timer);
    }
  }

  private mountedPath(path: string): boolean {
    return this.options.mounted?.prefixes.some((prefix) => path.startsWith(prefix)) ?? false;
  }

  private async route(
    request: IncomingMessage,
    response: ServerResponse,
    path: string,
    query: URLSearchParams,
  ): Promise<void> {
    const { store, log } = this.options;
    if (this.options.localOnly === true) {
      const allowed = this.mountedPath(path) ? this.options.mounted?.cors : undefined;
      refuseForeignBrowserRequest(request, this.options.tls !== undefined, allowed);
    }
    const maxBodyBytes = this.options.maxBodyBytes ?? 1024 * 1024;
    // With the loop running, a change is acted on at once rather than at the next tick.
    const onChange = () => {
      if (this.timer) void this.reconcile().catch(() => undefined);
    };
    if (path === '/health') {
      onlyRead(request, path);
      const health = (await this.options.health?.()) ?? (await this.storeHealth());
      return sendJson(response, health.status, health.body);
    }
    if (path === '/metrics') {
      onlyRead(request, path);
      if (this.options.openMetrics !== true) await requireRole(store, request, metricsRoles, '/metrics');
      const mounted = (await this.options.mounted?.metrics()) ?? '';
      const text = await this.metrics.registry.metrics();
      response.writeHead(200, { 'content-type': this.metrics.registry.contentType });
      response.end(mounted ? `${text}\n${mounted}` : text);
      return;
    }
    if (this.mountedPath(path)) return this.options.mounted!.handle(request, response, path);
    if (path.startsWith('/api/v1/worker/')) {
      const ctx = {
        store,
        log,
        maxBodyBytes,
        contextTokens: this.options.contextTokens ?? 4096,
        now: this.options.now ?? Date.now,
        onChange,
        loads: this.loads,
        logs: this.logs,
        nodeEngines: this.nodeEngines,
      };
      return handleWorker(ctx, request, response, path.slice('/api/v1/worker/'.length));
    }
    if (path.startsWith('/api/v1/')) {
      if (isGatewaySyncPath(path, request.method)) {
        await requireRole(store, request, gatewaySyncRoles, 'this part of the management API');
      } else {
        await requireAdmin(store, request);
      }
      return handleManagement(
        {
          store,
          maxBodyBytes,
          onChange,
          loads: this.loads,
          logs: this.logs,
          nodeEngines: this.nodeEngines,
          ...(this.options.endpointsChanged && { endpointsChanged: this.options.endpointsChanged }),
          now: this.options.now ?? Date.now,
          resolver: this.reconciler.resolver,
          contextTokens: this.options.contextTokens ?? 4096,
        },
        request,
        response,
        path.slice(8),
        query,
      );
    }
    if (this.dashboard.handles(path)) return this.dashboard.serve(request, response, path);
    throw new EdgeFleetError('not_found', `no route ${clipped(path)}`);
  }
}
