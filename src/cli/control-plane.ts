/**
 * Starts the control plane with the gateway in the same process and HTTP port: what `edgefleet server`
 * runs, and what `edgefleet up` runs beside its local worker.
 */
import { once } from 'node:events';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { EndpointProber } from '../control/server/endpoint-prober.js';
import { InstanceLoads } from '../control/server/instance-loads.js';
import { StoreKeyLookup } from '../control/server/key-lookup.js';
import { ControlServer, type ControlServerOptions } from '../control/server/control-server.js';
import { activateDeployment } from '../control/server/activate-deployment.js';
import { StoreRouteSource } from '../control/server/route-table.js';
import { storeUsageEvents } from '../control/server/usage-sink.js';
import { bootstrapSecrets, type BootstrapResult } from '../control/server/secrets.js';
import { KeyGuard } from '../gateway/auth/key-guard.js';
import { FleetGateway, type RouteSource } from '../gateway/fleet-gateway.js';
import type { RoutingConfig } from '../gateway/routing/routing-config.js';
import { UsageJournal, type JournalSync } from '../gateway/metering/usage-journal.js';
import { UsageShipper } from '../gateway/metering/usage-shipper.js';
import { withinMs } from '../gateway/sync/poll-loop.js';
import { listeningUrl } from '../http/create-http-server.js';
import type { CorsOrigins } from '../http/cors.js';
import type { ServerTls } from '../http/tls-options.js';
import { EdgeFleetError } from '../spec/edgefleet-error.js';
import type { Store } from '../store/store.js';
import type { Logger } from '../telemetry/logger.js';
import { makeLimiter } from './gateway-options.js';
import { serverUrlFile } from './management-client.js';

export interface ControlPlaneOptions {
  store: Store;
  home: string;
  host: string;
  port: number;
  log: Logger;
  reconcileMs: number;
  nodeTimeoutMs: number;
  contextTokens: number;
  /** Largest inference request body. */
  maxBodyBytes: number;
  /** `key`: `/v1/…` needs an API key; `none`: open (loopback-only `edgefleet up`). */
  inferenceAuth: 'key' | 'none';
  /** How long an inference request waits for a running instance of its model. */
  upstreamWaitMs: number;
  health?: ControlServerOptions['health'];
  /** Prometheus text appended after the gateway's. */
  extraMetrics?: () => Promise<string>;
  /** Wraps the route source (built from the store, at most 500 ms old), e.g. to add facts to models. */
  decorateRoutes?: (routes: RouteSource) => RouteSource;
  /** Share rpm/tpm/budget counters with other gateways through this Redis; default: per process. */
  redisUrl?: string;
  /** The routing policy and its weights (`--routing-config FILE`); default: built-in defaults. */
  routing?: RoutingConfig;
  /** The region clients are assumed to be in when nothing else tells (`--region`). */
  region?: string;
  /** When the usage journal is fsynced (`--journal-sync`); default `always`. */
  journalSync?: JournalSync;
  /** Web origins whose pages may call `/v1` (`--cors-origins`); default none. */
  cors?: CorsOrigins;
  /** Listen with HTTPS (`--tls-cert`, `--tls-key`). */
  tls?: ServerTls;
  /**
   * How long `close()` waits for work that needs the store (endpoint checks, the reconcile pass, the
   * gateway's health checks, the last usage shipment); default 10000. See `ControlPlane.close`.
   */
  shutdownMs?: number;
}

export interface ControlPlane {
  url: string;
  /** What the gateway routes by. */
  routes: RouteSource;
  control: ControlServer;
  gateway: FleetGateway;
  /** Set on the first start: the admin key and join token to show once. */
  created: BootstrapResult['created'];
  /**
   * Stops everything. The steps that wait on the store share one deadline (`shutdownMs`): a database
   * that stalls (a lock held elsewhere, a network that stopped answering) cannot hold the shutdown
   * forever. Past the deadline the rest is still closed (journal, rate limiter), what was left pending
   * is logged, and close() throws (`edgefleet server` then exits 1); the store is the caller's to close.
   */
  close(): Promise<void>;
  /**
   * Stops taking connections and lets the answers in flight finish, for up to `graceMs` (call before
   * `close()`, and before stopping the engines they come from).
   */
  drain(graceMs: number): Promise<void>;
}

export async function startControlPlane(options: ControlPlaneOptions): Promise<ControlPlane> {
  const { store, log } = options;
  const loads = new InstanceLoads();
  const limiter = await makeLimiter(options.redisUrl, log);

  const journal = new UsageJournal(join(options.home, 'usage-journal'), {
    ...(options.journalSync && { sync: options.journalSync }),
  });
  await journal.open();
  const guard =
    options.inferenceAuth === 'key'
      ? new KeyGuard({ lookup: new StoreKeyLookup({ store, log }).lookup, limiter, log })
      : undefined;
  // What an earlier run journaled and did not ship is in no ledger total yet: it counts toward budgets.
  await guard?.countUnshipped(journal.unshippedEvents(10_000));
  const shipper = new UsageShipper({
    journal,
    log: log.child({ component: 'usage-shipper' }),
    ship: (events) => storeUsageEvents(store, events),
    ...(guard && { onShipped: (events) => guard.stored(events) }),
  });
  const fromStore = new StoreRouteSource(store, {
    maxAgeMs: 500,
    loads,
    log: log.child({ component: 'routes' }),
    // The store answers again after an outage: ship the journal now, not at the shipper's backed-off tick.
    onRecovered: () => void shipper.flush().catch(() => undefined),
  });
  const routes = options.decorateRoutes?.(fromStore) ?? fromStore;
  // Set once the control server exists; requests only arrive after it listens.
  let reconcileNow: () => Promise<unknown> = async () => undefined;
  const gateway = new FleetGateway({
    routes,
    // Scale to zero: a request records its deployment's last request time; one that may scale down is
    // reconciled at once, so one scaled to zero is placed without waiting for the next loop.
    activate: async (deploymentId) => {
      await activateDeployment(store, deploymentId, Date.now(), reconcileNow);
    },
    log: log.child({ component: 'gateway' }),
    maxBodyBytes: options.maxBodyBytes,
    upstreamWaitMs: options.upstreamWaitMs,
    ...(guard && { guard }),
    recordUsage: (event) => journal.append(event),
    ...(options.routing && { routing: options.routing }),
    ...(options.region !== undefined && { region: options.region }),
    ...(options.cors && { cors: options.cors }),
  });
  // Constructed before the control server, which tells it of new and changed endpoints; started below.
  const prober = new EndpointProber({ store, loads, log: log.child({ component: 'endpoint-prober' }) });
  const control = new ControlServer({
    store,
    log,
    endpointsChanged: () => void prober.checkNow(),
    reconcileMs: options.reconcileMs,
    nodeTimeoutMs: options.nodeTimeoutMs,
    contextTokens: options.contextTokens,
    loads,
    mounted: {
      prefixes: ['/v1/'],
      handle: (request, response, path) => gateway.handle(request, response, path),
      metrics: async () =>
        [await gateway.registry.metrics(), (await options.extraMetrics?.()) ?? ''].filter(Boolean).join('\n'),
      ...(options.cors && { cors: options.cors }),
    },
    ...(options.health && { health: options.health }),
    ...(options.tls && { tls: options.tls }),
    // Where `/v1` needs no key (`up` on loopback), neither does `/metrics`.
    openMetrics: options.inferenceAuth === 'none',
    // Nor can a web page in the user's browser be kept out by a key: refuse its requests by Host and Origin.
    localOnly: options.inferenceAuth === 'none',
  });
  reconcileNow = async () => {
    // A pass already running may have read the deployment before the touch: run a fresh one after it.
    await control.reconciler.settled();
    await control.reconcile();
  };
  control.server.listen(options.port, options.host);
  try {
    await once(control.server, 'listening');
  } catch (error) {
    // The port is taken (or not ours): let go of the journal and Redis, so that the process can exit now.
    await Promise.allSettled([journal.close(), limiter.close()]);
    throw error;
  }
  // After listening: a first start whose port is taken has shown no credentials, so it creates none yet.
  const { created } = await bootstrapSecrets(store, options.home);
  control.start();
  gateway.start();
  shipper.start();
  prober.start();
  const address = control.server.address() as AddressInfo;
  const url = listeningUrl(options.host, address.port, options.tls !== undefined);
  await writeServerUrl(options.home, options.host, address.port, options.tls !== undefined, log);
  return {
    url,
    routes,
    control,
    gateway,
    created,
    drain: (graceMs) => control.drain(graceMs),
    close: async () => {
      const shutdownMs = options.shutdownMs ?? 10_000;
      const deadline = Date.now() + shutdownMs;
      const pending: string[] = [];
      /** `work`, true once done (a failure is logged: the shutdown goes on). */
      const settled = (work: Promise<unknown>) =>
        work.then(
          () => true,
          (error: unknown) => {
            log.warn({ err: error }, 'shutdown step failed');
            return true;
          },
        );
      const untilDeadline = async (what: string, done: Promise<boolean>) => {
        // Past the deadline a step still gets a moment (what finishes at once is not reported).
        if (!(await withinMs(done, Math.max(100, deadline - Date.now()), () => false))) pending.push(what);
      };
      // The loops and the HTTP server stop at once; what they still wait on (mostly the store) is
      // waited for until the deadline.
      const stopping = {
        'endpoint health checks': settled(prober.stop()),
        'the reconcile pass and the scheduler leadership release': settled(control.close()),
        'instance health checks': settled(gateway.close()),
      };
      for (const [what, done] of Object.entries(stopping)) await untilDeadline(what, done);
      const shipped = settled(shipper.stop().then(() => shipper.flush().catch(() => undefined)));
      await untilDeadline('the last usage shipment to the store', shipped);
      // Local (files; the limiter bounds its own wait): done even past the deadline.
      await journal.close();
      await limiter.close();
      if (pending.length > 0) {
        log.error({ pending, shutdownMs }, 'shutdown deadline passed; exiting with work still pending');
        throw new EdgeFleetError(
          'internal_error',
          `shutdown did not finish within ${shutdownMs} ms; still pending: ${pending.join(', ')} ` +
            '(is the store reachable? usage not yet shipped stays in the journal for the next start)',
        );
      }
    },
  };
}

/**
 * Writes where this server answers to `<home>/server-url`, so that management commands given `--home`
 * reach it on any port (a wildcard address is written as loopback). A failed write only costs that.
 */
async function writeServerUrl(home: string, host: string, port: number, tls: boolean, log: Logger) {
  const reachable = host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '::1' : host;
  const path = join(home, serverUrlFile);
  await writeFile(path, `${listeningUrl(reachable, port, tls)}\n`).catch((error: unknown) =>
    log.warn({ err: error, path }, 'cannot write the server URL for management commands'),
  );
}
