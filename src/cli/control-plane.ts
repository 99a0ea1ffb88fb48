/**
 * Starts the control plane with the gateway in the same process and HTTP port: what `edgefleet server`
 * runs, and what `edgefleet up` runs beside its local worker.
 */
import { once } from 'node:events';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { requireApiKey } from '../control/server/authenticate.js';
import { ControlServer, type ControlServerOptions } from '../control/server/control-server.js';
import { StoreRouteSource } from '../control/server/route-table.js';
import { bootstrapSecrets } from '../control/server/secrets.js';
import { FleetGateway, type RouteSource } from '../gateway/fleet-gateway.js';
import { UsageJournal } from '../gateway/metering/usage-journal.js';
import { UsageShipper } from '../gateway/metering/usage-shipper.js';
import type { Store } from '../store/store.js';
import type { Logger } from '../telemetry/logger.js';

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
  /** Default: built from the store, at most 500 ms old. */
  routes?: RouteSource;
}

export interface ControlPlane {
  url: string;
  control: ControlServer;
  gateway: FleetGateway;
  /** Set on the first start: the admin key and join token to show once. */
  created: { adminKey: string; joinToken: string } | undefined;
  close(): Promise<void>;
}

export async function startControlPlane(options: ControlPlaneOptions): Promise<ControlPlane> {
  const { store, log } = options;
  const { created } = await bootstrapSecrets(store, options.home);
  const journal = new UsageJournal(join(options.home, 'usage-journal'));
  await journal.open();
  const shipper = new UsageShipper({
    journal,
    log: log.child({ component: 'usage-shipper' }),
    ship: (events) =>
      store.appendUsage(
        events.map((e) => ({
          id: e.id,
          keyId: e.keyId,
          model: e.model,
          promptTokens: e.promptTokens,
          completionTokens: e.completionTokens,
          atMs: e.atMs,
        })),
      ),
  });
  const gateway = new FleetGateway({
    routes: options.routes ?? new StoreRouteSource(store),
    log: log.child({ component: 'gateway' }),
    maxBodyBytes: options.maxBodyBytes,
    upstreamWaitMs: options.upstreamWaitMs,
    ...(options.inferenceAuth === 'key' && {
      authorize: async (request) => ({ keyId: (await requireApiKey(store, request)).id }),
    }),
    recordUsage: (event) => journal.append(event),
  });
  const control = new ControlServer({
    store,
    log,
    reconcileMs: options.reconcileMs,
    nodeTimeoutMs: options.nodeTimeoutMs,
    contextTokens: options.contextTokens,
    mounted: {
      prefixes: ['/v1/'],
      handle: (request, response, path) => gateway.handle(request, response, path),
      metrics: async () =>
        [await gateway.registry.metrics(), (await options.extraMetrics?.()) ?? ''].filter(Boolean).join('\n'),
    },
    ...(options.health && { health: options.health }),
  });
  control.server.listen(options.port, options.host);
  await once(control.server, 'listening');
  control.start();
  shipper.start();
  const address = control.server.address() as AddressInfo;
  const host = options.host.includes(':') ? `[${options.host}]` : options.host;
  return {
    url: `http://${host}:${address.port}`,
    control,
    gateway,
    created,
    close: async () => {
      await control.close();
      await shipper.stop();
      await shipper.flush().catch(() => undefined);
      await journal.close();
    },
  };
}
