/**
 * Builds the gateway's route table from the store: running instances on live nodes, by deployment name,
 * merged with the healthy external endpoints registered under the same (or their own) model name.
 * A deployment idle past its timeout with `minReplicas: 0` is marked `scaledToZero`.
 */
import {
  instanceBaseUrl,
  type InstanceLoad,
  type RouteModel,
  type RouteTable,
} from '../../spec/route-table.js';
import type { Store } from '../../store/store.js';
import type { Endpoint, Site } from '../../store/store-types.js';
import type { Logger } from '../../telemetry/logger.js';
import { desiredReplicas } from './desired-replicas.js';
import type { InstanceLoads } from './instance-loads.js';

export async function buildRouteTable(
  store: Store,
  nowMs = Date.now(),
  loads?: InstanceLoads,
): Promise<RouteTable> {
  const [deployments, instances, nodes, sites, endpoints] = await Promise.all([
    store.listDeployments(),
    store.listInstances(),
    store.listNodes(),
    store.listSites(),
    store.listEndpoints(),
  ]);
  const liveNodes = new Map(
    nodes.filter((n) => n.status === 'up' && n.revokedAtMs === null).map((n) => [n.id, n]),
  );
  const sitesById = new Map(sites.map((s) => [s.id, s]));
  const models = new Map<string, RouteModel>();
  for (const deployment of deployments) {
    if (deployment.status === 'deleting') continue;
    models.set(deployment.id, {
      name: deployment.name,
      deploymentId: deployment.id,
      status: deployment.status,
      statusReason: deployment.statusReason,
      createdAtMs: deployment.createdAtMs,
      instances: [],
      ...(deployment.minReplicas < deployment.replicas && { idleTimeoutMs: deployment.idleTimeoutMs }),
      ...(desiredReplicas(deployment, nowMs) === 0 && { scaledToZero: true }),
    });
  }
  for (const instance of instances) {
    const model = models.get(instance.deploymentId);
    const node = instance.nodeId === null ? undefined : liveNodes.get(instance.nodeId);
    if (!model || !node || instance.state !== 'running' || instance.port === null) continue;
    const site = sitesById.get(node.siteId);
    model.instances.push({
      id: instance.id,
      deploymentId: instance.deploymentId,
      nodeId: node.id,
      nodeName: node.name,
      siteId: node.siteId,
      siteName: site?.name ?? node.siteId,
      region: site?.region ?? null,
      url: instanceBaseUrl(node.address, instance.port),
      ...(instance.engineKey !== null && { apiKey: instance.engineKey }),
      ...withLoad(loads?.get(instance.id, nowMs)),
    });
  }
  addEndpoints(models, endpoints, sitesById, nowMs, loads);
  return {
    builtAtMs: nowMs,
    models: [...models.values()],
    sites: sites.map(({ id, name, region }) => ({ id, name, region })),
  };
}

/**
 * Healthy endpoints become instances (node `external`) of the model of their name, with the load read
 * from their metrics; a name served only by endpoints gets a model of its own, listed in `/v1/models`
 * even while none is healthy.
 */
function addEndpoints(
  models: Map<string, RouteModel>,
  endpoints: readonly Endpoint[],
  sitesById: ReadonlyMap<string, Site>,
  nowMs: number,
  loads: InstanceLoads | undefined,
): void {
  const byName = new Map([...models.values()].map((m) => [m.name, m]));
  for (const endpoint of endpoints) {
    let model = byName.get(endpoint.model);
    if (!model) {
      model = {
        name: endpoint.model,
        deploymentId: `external:${endpoint.model}`,
        status: 'degraded',
        statusReason: 'no external endpoint is healthy yet',
        createdAtMs: endpoint.createdAtMs,
        instances: [],
        meta: { external: true },
      };
      byName.set(endpoint.model, model);
      models.set(model.deploymentId, model);
    }
    const external = model.meta?.['external'] === true;
    if (endpoint.health !== 'healthy') {
      if (external && model.instances.length === 0 && endpoint.lastError !== null) {
        model.statusReason = `external endpoint unhealthy: ${endpoint.lastError}`;
      }
      continue;
    }
    if (external) {
      model.status = 'running';
      model.statusReason = null;
    }
    const site = sitesById.get(endpoint.siteId);
    model.instances.push({
      id: endpoint.id,
      deploymentId: model.deploymentId,
      nodeId: 'external',
      nodeName: 'external',
      siteId: endpoint.siteId,
      siteName: site?.name ?? endpoint.siteId,
      region: site?.region ?? null,
      url: endpoint.url,
      ...(endpoint.apiKey !== null && { apiKey: endpoint.apiKey }),
      ...(endpoint.upstreamModel !== null && { upstreamModel: endpoint.upstreamModel }),
      ...withLoad(loads?.get(endpoint.id, nowMs)),
    });
  }
}

export interface StoreRouteSourceOptions {
  /** Oldest table `get()` answers while the store works. Default 500. */
  maxAgeMs?: number;
  /** A build that has not finished in this time counts as a store failure. Default 5000. */
  buildTimeoutMs?: number;
  /** Engine loads from worker heartbeats, added to the instances. */
  loads?: InstanceLoads;
  log?: Logger;
  /** Called when a build succeeds after a failure: the store answers again. */
  onRecovered?: () => void;
}

/**
 * A route table kept fresh from the store: `get()` answers a table at most `maxAgeMs` old while the
 * store works; `refresh()` forces a rebuild (the gateway calls it while it waits for an instance).
 * When the store fails or does not answer within `buildTimeoutMs` (PostgreSQL restarting or
 * unreachable), the last table built is served, so the gateway keeps routing to the instances it
 * knew; while it fails, `get()` answers that table at once and retries the store in the background at
 * most every `maxAgeMs`, so no request waits on a dead store. Before the first successful build, a
 * failure is thrown (there is nothing to serve).
 */
export class StoreRouteSource {
  private table: RouteTable = { builtAtMs: 0, models: [] };
  private building: Promise<RouteTable> | undefined;
  private failedAtMs: number | null = null;
  private readonly maxAgeMs: number;
  private readonly buildTimeoutMs: number;

  constructor(
    private readonly store: Store,
    private readonly options: StoreRouteSourceOptions = {},
  ) {
    this.maxAgeMs = options.maxAgeMs ?? 500;
    this.buildTimeoutMs = options.buildTimeoutMs ?? 5000;
  }

  /** Whether the last build failed (the table served is then the last one built, `builtAtMs` old). */
  get storeFailing(): boolean {
    return this.failedAtMs !== null;
  }

  async get(): Promise<RouteTable> {
    const nowMs = Date.now();
    if (nowMs - this.table.builtAtMs <= this.maxAgeMs) return this.table;
    if (this.failedAtMs !== null && this.table.builtAtMs > 0) {
      if (nowMs - this.failedAtMs > this.maxAgeMs) void this.refresh().catch(() => undefined);
      return this.table;
    }
    return this.refresh();
  }

  refresh(): Promise<RouteTable> {
    this.building ??= this.build().finally(() => (this.building = undefined));
    return this.building;
  }

  private async build(): Promise<RouteTable> {
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`the store did not answer within ${this.buildTimeoutMs} ms`)),
        this.buildTimeoutMs,
      );
    });
    try {
      const table = await Promise.race([
        buildRouteTable(this.store, Date.now(), this.options.loads),
        timedOut,
      ]);
      const recovered = this.failedAtMs !== null;
      this.failedAtMs = null;
      if (recovered) {
        this.options.log?.info('route table built from the store again');
        this.options.onRecovered?.();
      }
      return (this.table = table);
    } catch (error) {
      if (this.failedAtMs === null) {
        this.options.log?.warn(
          { err: error, tableAgeMs: this.table.builtAtMs === 0 ? null : Date.now() - this.table.builtAtMs },
          'route table could not be built from the store; serving the last one',
        );
      }
      this.failedAtMs = Date.now();
      if (this.table.builtAtMs === 0) throw error;
      return this.table;
    } finally {
      clearTimeout(timer);
    }
  }
}

const withLoad = (load: InstanceLoad | undefined): { load?: InstanceLoad } => (load ? { load } : {});
