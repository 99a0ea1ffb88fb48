/**
 * A per-room gateway in its own process (`edgefleet gateway`): the fleet gateway fed by routes and keys
 * pulled from the control plane and cached in memory and on disk, a durable usage journal shipped to
 * the control plane, and one HTTP server with `/v1/…`, `/health` and `/metrics`. While the control
 * plane is unreachable it keeps serving the room's instances from the last routes and keys it knew;
 * the journal ships when the control plane answers again. As one of several worker processes
 * (gateway-workers.ts) it keeps a journal of its own and answers `/metrics` for all of them.
 */
import { once } from 'node:events';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { collectDefaultMetrics } from 'prom-client';
import { answerClientErrors } from '../../http/client-errors.js';
import { createHttpServer, listeningUrl } from '../../http/create-http-server.js';
import { trackConnections } from '../../http/graceful-close.js';
import type { ServerTls } from '../../http/tls-options.js';
import { resolveTarget } from '../../http/request-target.js';
import { onlyRead, sendError, sendJson } from '../../http/respond.js';
import { logRequestFailure } from '../../http/log-request-failure.js';
import { metricsRoles } from '../../spec/api-keys.js';
import { clipped, EdgeFleetError } from '../../spec/edgefleet-error.js';
import type { Logger } from '../../telemetry/logger.js';
import { KeyGuard } from '../auth/key-guard.js';
import type { RateLimiter } from '../auth/rate-limiter.js';
import type { RoutingConfig } from '../routing/routing-config.js';
import { FleetGateway } from '../fleet-gateway.js';
import { UsageJournal, type JournalSync } from '../metering/usage-journal.js';
import { UsageShipper } from '../metering/usage-shipper.js';
import { ControlPlaneClient } from './control-plane-client.js';
import { HttpKeyLookup } from './http-key-lookup.js';
import { HttpRouteSource } from './http-route-source.js';
import type { CorsOrigins } from '../../http/cors.js';
import { SiteCheck } from './site-check.js';
import { clusterMetrics } from './gateway-workers.js';
import { takeConnections } from './connection-handout.js';
import { journalDirName, shipLeftoverJournals } from './worker-journals.js';
import { restoredUnledgered, shippedTokensFile } from './shipped-tokens-cache.js';

export interface StandaloneGatewayOptions {
  serverUrl: string;
  /** Admin API key of the control plane. */
  apiKey: string;
  /**
   * The room this gateway serves (shown in /health, checked against the control plane's sites), and its
   * region (routing prefers it); without one, the site's region as the control plane knows it.
   */
  site: string;
  region: string | null;
  /** Holds `gateway-cache/` and `usage-journal/`. */
  home: string;
  host: string;
  /** Where it listens; as a worker, where its primary listens (a worker serves what the primary hands it). */
  port: number;
  maxBodyBytes: number;
  upstreamWaitMs: number;
  limiter: RateLimiter;
  log: Logger;
  /** The routing policy and its weights; default: built-in defaults. */
  routing?: RoutingConfig;
  /** Route pulls. Default 1000. */
  routesPollMs?: number;
  /** Key list pulls. Default 5000. */
  keysPollMs?: number;
  /** Usage shipping. Default 1000. */
  shipIntervalMs?: number;
  /** When the usage journal is fsynced; default `always`. */
  journalSync?: JournalSync;
  /** Web origins whose pages may call `/v1` (`--cors-origins`); default none. */
  cors?: CorsOrigins;
  /** Listen with HTTPS (`--tls-cert`, `--tls-key`). */
  tls?: ServerTls;
  /** Certificates an https control plane is checked against (`--tls-ca`); default: the system's. */
  tlsCa?: string[];
  /** This process is worker `index` of `count` (`--workers`); default: the only process, index 0 of 1. */
  worker?: { index: number; count: number };
}

export interface StandaloneGateway {
  url: string;
  server: Server;
  routes: HttpRouteSource;
  keys: HttpKeyLookup;
  /** Stops accepting requests, lets those in flight finish (up to `graceMs`), ships what it can. */
  close(graceMs?: number): Promise<void>;
}

export async function startStandaloneGateway(options: StandaloneGatewayOptions): Promise<StandaloneGateway> {
  const parts: Started = {};
  try {
    return await start(options, parts);
  } catch (error) {
    // Failed before listening (the journal could not be opened, the port is taken…): let go of what was
    // started and of the limiter (a Redis connection), so that the process can exit now.
    await releaseStarted(parts, options.limiter).catch(() => undefined);
    throw error;
  }
}

/** What start() has opened so far, for releaseStarted(). */
interface Started {
  client?: ControlPlaneClient;
  journal?: UsageJournal;
  routes?: HttpRouteSource;
  keys?: HttpKeyLookup;
}

/** Stops the polls and lets go of the journal, the limiter and the connections to the control plane. */
async function releaseStarted(parts: Started, limiter: RateLimiter): Promise<void> {
  parts.routes?.stop();
  parts.keys?.stop();
  try {
    await parts.journal?.close();
  } finally {
    try {
      await limiter.close();
    } finally {
      parts.client?.close();
    }
  }
}

async function start(options: StandaloneGatewayOptions, parts: Started): Promise<StandaloneGateway> {
  const { log } = options;
  const cacheDir = join(options.home, 'gateway-cache');
  const client = (parts.client = new ControlPlaneClient({
    serverUrl: options.serverUrl,
    apiKey: options.apiKey,
    ...(options.tlsCa && { ca: options.tlsCa }),
  }));
  const worker = options.worker ?? { index: 0, count: 1 };
  const workerMetrics = options.worker && clusterMetrics();
  const journal = new UsageJournal(join(options.home, journalDirName(worker.index)), {
    ...(options.journalSync && { sync: options.journalSync }),
  });
  await journal.open();
  parts.journal = journal;
  const keys = (parts.keys = new HttpKeyLookup({
    client,
    cachePath: join(cacheDir, 'keys.json'),
    log: log.child({ component: 'key-sync' }),
    pollMs: options.keysPollMs ?? 5000,
  }));
  const unledgered = await restoredUnledgered(join(cacheDir, shippedTokensFile(worker.index)), log);
  const guard = new KeyGuard({
    lookup: keys.lookup,
    limiter: options.limiter,
    log,
    unledgered: unledgered.tokens,
  });
  // What an earlier run journaled and did not ship is in no ledger total yet: it counts toward budgets.
  await guard.countUnshipped(journal.unshippedEvents(10_000));
  const shipper = new UsageShipper({
    journal,
    log: log.child({ component: 'usage-shipper' }),
    ship: client.shipUsage,
    intervalMs: options.shipIntervalMs ?? 1000,
    onShipped: (events) => {
      guard.stored(events);
      // Only what the key list in use lacks: while key pulls work, a few seconds' worth.
      const listAgeMs = keys.ageMs();
      unledgered.save(listAgeMs === null ? undefined : Date.now() - listAgeMs);
    },
  });
  /** Ends the wait of the leftover journals' shipping (below) for another try. */
  let leftoversTryNow: (() => void) | undefined;
  const siteCheck = new SiteCheck(options.site, log.child({ component: 'route-sync' }));
  const routes = (parts.routes = new HttpRouteSource({
    client,
    cachePath: join(cacheDir, 'routes.json'),
    log: log.child({ component: 'route-sync' }),
    pollMs: options.routesPollMs ?? 1000,
    onTable: (table) => siteCheck.update(table),
    // The control plane is back: ship the journals now rather than at the shippers' backed-off ticks.
    onReachable: () => {
      void shipper.flush().catch(() => undefined);
      leftoversTryNow?.();
    },
  }));
  await Promise.all([routes.start(), keys.start()]);
  const gateway = new FleetGateway({
    routes,
    log: log.child({ component: 'gateway' }),
    maxBodyBytes: options.maxBodyBytes,
    upstreamWaitMs: options.upstreamWaitMs,
    // Clients whose key, header and address say nothing are taken to be in this room's region.
    region: options.region ?? (() => siteCheck.region),
    site: options.site,
    guard,
    recordUsage: (event) => journal.append(event),
    // Scale to zero: requests for a deployment that scales down are reported to the control plane.
    activate: client.activate,
    ...(options.routing && { routing: options.routing }),
    ...(options.cors && { cors: options.cors }),
  });
  // The process's CPU, memory and event-loop lag (with --workers, every worker's, added up).
  collectDefaultMetrics({ register: gateway.registry, prefix: 'edgefleet_gateway_' });
  routes.registerMetrics(gateway.registry);
  keys.registerMetrics(gateway.registry);
  workerMetrics?.report(gateway.registry);
  const metricsText = workerMetrics ? workerMetrics.text : () => gateway.registry.metrics();

  const health = () => {
    return routes.get().then((table) => ({
      status: client.credentialRefused !== null ? 'unauthorized' : routes.reachable ? 'ok' : 'degraded',
      site: options.site,
      siteKnown: siteCheck.known,
      region: options.region ?? siteCheck.region,
      controlPlane: {
        url: client.serverUrl,
        reachable: routes.reachable,
        credentialRefused: client.credentialRefused,
        lastContactAtMs: client.lastContactAtMs === 0 ? null : client.lastContactAtMs,
      },
      routes: {
        origin: routes.origin,
        ageMs: routes.ageMs(),
        models: table.models.length,
        instances: table.models.reduce((n, m) => n + m.instances.length, 0),
      },
      keys: { count: keys.size, ageMs: keys.ageMs() },
      ...(options.worker && { worker: { ...options.worker, pid: process.pid } }),
    }));
  };

  const handle = async (request: IncomingMessage, response: ServerResponse): Promise<void> => {
    const path = resolveTarget(request.url).pathname;
    try {
      if (path === '/health') {
        onlyRead(request, path);
        return sendJson(response, 200, await health());
      }
      if (path === '/metrics') {
        onlyRead(request, path);
        await guard.authenticate(request.headers.authorization, metricsRoles, '/metrics');
        const text = await metricsText();
        response.writeHead(200, { 'content-type': gateway.registry.contentType });
        response.end(text);
        return;
      }
      if (path.startsWith('/v1/')) return await gateway.handle(request, response, path);
      throw new EdgeFleetError('not_found', `no route ${clipped(path)}`);
    } catch (error) {
      logRequestFailure(log, error, { method: request.method, path });
      sendError(response, error);
    }
  };
  const server = createHttpServer((request, response) => void handle(request, response), options.tls);
  answerClientErrors(server);
  const connections = trackConnections(server);
  const intake = options.worker ? takeConnections(server) : undefined;
  if (intake === undefined) {
    server.listen(options.port, options.host);
    await once(server, 'listening');
  }
  gateway.start();
  shipper.start();
  intake?.ready();
  // Journals of workers a previous run had and this one has not (`--workers` lowered).
  const leftovers = new AbortController();
  const leftoversShipped =
    worker.index === 0
      ? shipLeftoverJournals({
          home: options.home,
          workers: worker.count,
          ship: client.shipUsage,
          log: log.child({ component: 'usage-shipper' }),
          signal: leftovers.signal,
          onWaiting: (tryNow) => (leftoversTryNow = tryNow),
        })
      : Promise.resolve();
  const port = intake ? options.port : (server.address() as AddressInfo).port;
  return {
    url: listeningUrl(options.host, port, options.tls !== undefined),
    server,
    routes,
    keys,
    close: async (graceMs = 10_000) => {
      intake?.stopping();
      await connections.close(graceMs);
      routes.stop();
      keys.stop();
      leftovers.abort();
      await leftoversShipped;
      await gateway.close();
      await shipper.stop();
      await shipper.flush().catch((error: unknown) => {
        log.warn(
          { err: error instanceof Error ? error.message : String(error) },
          'usage records stay in the journal until the next start',
        );
      });
      await unledgered.saved();
      await releaseStarted(parts, options.limiter);
    },
  };
}
