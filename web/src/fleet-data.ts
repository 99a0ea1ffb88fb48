import { api } from './api/client';
import type { Deployment, FleetNode, Instance, ListResponse, Site, Traffic } from './api/types';

export interface FleetData {
  sites: Site[];
  nodes: FleetNode[];
  instances: Instance[];
  deployments: Deployment[];
  /** The last minute of traffic, or null when the server has no traffic API. */
  traffic: Traffic | null;
}

/** Sites, nodes (with devices), instances and deployments in one go; the traffic of the last minute besides. */
export async function loadFleet(signal: AbortSignal, withTraffic = false): Promise<FleetData> {
  const [sites, nodes, instances, deployments, traffic] = await Promise.all([
    api<ListResponse<Site>>('/api/v1/sites', { signal }),
    api<ListResponse<FleetNode>>('/api/v1/nodes', { signal }),
    api<ListResponse<Instance>>('/api/v1/instances', { signal }),
    api<ListResponse<Deployment>>('/api/v1/deployments', { signal }),
    withTraffic
      ? api<Traffic>('/api/v1/traffic?windowS=60&stepS=5', { signal }).catch(() => null)
      : Promise.resolve(null),
  ]);
  return {
    sites: sites.data,
    nodes: nodes.data,
    instances: instances.data,
    deployments: deployments.data,
    traffic,
  };
}

/** Memory the scheduler reserved on each device, keyed `nodeId/index`. */
export function reservedByDevice(instances: Instance[]): Map<string, number> {
  const reserved = new Map<string, number>();
  for (const instance of instances) {
    if (instance.state === 'stopped' || instance.state === 'failed') continue;
    for (const allocation of instance.allocations) {
      const node = allocation.nodeId ?? instance.nodeId;
      if (!node) continue;
      const key = `${node}/${allocation.deviceIndex}`;
      reserved.set(key, (reserved.get(key) ?? 0) + allocation.memoryBytes);
    }
  }
  return reserved;
}

/** Requests/s and tokens/s of one site (name or id) over the traffic window; the whole fleet for "*". */
export function siteLoad(traffic: Traffic | null, site: Site | '*'): { rps: number; tps: number } | null {
  if (!traffic) return null;
  const matches = traffic.series.filter((s) =>
    site === '*'
      ? s.site === '*' && s.model === '*'
      : (s.site === site.name || s.site === site.id) && s.model !== '*',
  );
  let requests = 0;
  let tokens = 0;
  let buckets = 0;
  for (const series of matches) {
    buckets = Math.max(buckets, series.points.length);
    for (const point of series.points) {
      requests += point.requestsPerSecond;
      tokens += point.tokensPerSecond;
    }
  }
  return buckets === 0 ? { rps: 0, tps: 0 } : { rps: requests / buckets, tps: tokens / buckets };
}
