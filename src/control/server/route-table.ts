/** Builds the gateway's route table from the store: running instances on live nodes, by deployment name. */
import { instanceBaseUrl, type RouteModel, type RouteTable } from '../../spec/route-table.js';
import type { Store } from '../../store/store.js';

export async function buildRouteTable(store: Store, nowMs = Date.now()): Promise<RouteTable> {
  const [deployments, instances, nodes, sites] = await Promise.all([
    store.listDeployments(),
    store.listInstances(),
    store.listNodes(),
    store.listSites(),
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
    });
  }
  return { builtAtMs: nowMs, models: [...models.values()] };
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
  ) {}

  async get(): Promise<RouteTable> {
    if (Date.now() - this.table.builtAtMs <= this.maxAgeMs) return this.table;
    return this.refresh();
  }

  refresh(): Promise<RouteTable> {
    this.building ??= buildRouteTable(this.store)
      .then((table) => (this.table = table))
      .finally(() => (this.building = undefined));
    return this.building;
  }
}
