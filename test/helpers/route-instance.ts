import type { RouteInstance } from '../../src/spec/route-table.js';

/** An instance of deployment `d1` as the route table lists it, on a node named after it, in `site`. */
export function routeInstance(
  id: string,
  url: string,
  site = 'north',
  region: string | null = null,
): RouteInstance {
  return {
    id,
    url,
    deploymentId: 'd1',
    nodeId: `n-${id}`,
    nodeName: id,
    siteId: site,
    siteName: site,
    region,
  };
}
