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
      ...withLoad(loads?.get(instance.id, nowMs)),
    });
  }
  addEndpoints(models, endpoints, sitesById);
  return { builtAtMs: nowMs, models: [...models.values()] };
}

/**
 * Healthy endpoints become instances (node `external`) of the model of their name; a name served
 * only by endpoints gets a model of its own, listed in `/v1/models` even while none is healthy.
 */
function addEndpoints(
  models: Map<string, RouteModel>,
  endpoints: readonly Endpoint[],
  sitesById: ReadonlyMap<string, Site>,
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
    });
  }
}

/**
 * A route table kept fresh from the store: `current()` is never older than `maxAgeMs` when it is read
 * through `get()`; `refresh()` forces a rebuild (the gateway calls it while it waits for an instance).
 */
export class StoreRouteSource {
  private table: RouteTable = { builtAtMs: 0, models: [] };
  private building: Promise<RouteTable> | undefined;

  constructor(
    private readonly store: Store,
    private readonly maxAgeMs = 500,
    private readonly loads?: InstanceLoads,
  ) {}

  async get(): Promise<RouteTable> {
    if (Date.now() - this.table.builtAtMs <= this.maxAgeMs) return this.table;
    return this.refresh();
  }

  refresh(): Promise<RouteTable> {
    this.building ??= buildRouteTable(this.store, Date.now(), this.loads)
      .then((table) => (this.table = table))
      .finally(() => (this.building = undefined));
    return this.building;
  }
}

const withLoad = (load: InstanceLoad | undefined): { load?: InstanceLoad } => (load ? { load } : {});
