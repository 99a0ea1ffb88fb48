import type { IncomingMessage, ServerResponse } from 'node:http';
import { z } from 'zod';
import { parseWith } from '../../http/read-json-body.js';
import { sendJson } from '../../http/respond.js';
import { clipped, EdgeFleetError, methodNotAllowed } from '../../spec/edgefleet-error.js';
import { listInstancesQuerySchema } from '../../spec/management-api.js';
import { handleDeployments, type DeploymentRoutesContext } from './deployment-routes.js';
import { handleGatewaySync } from './gateway-sync-routes.js';
import type { InstanceLoads } from './instance-loads.js';
import type { InstanceLogs } from './instance-logs.js';
import type { NodeEngines } from './node-engines.js';
import { handleEndpoints } from './endpoint-routes.js';
import { handleKeys } from './key-routes.js';
import { handleNodes } from './node-routes.js';
import { handlePlanner } from './planner-routes.js';
import { handleTraffic } from './traffic-routes.js';
import { handleUsage } from './usage-routes.js';

export interface ManagementContext extends DeploymentRoutesContext {
  /** Engine loads from heartbeats, for the route table handed to per-room gateways. */
  loads?: InstanceLoads;
  /** Engine log tails from heartbeats. */
  logs?: InstanceLogs;
  /** How many engines each node's worker last reported (node-routes.ts). */
  nodeEngines?: NodeEngines;
  /** An external endpoint was registered or changed (endpoint-routes.ts). */
  endpointsChanged?: () => void;
}

const list = <T>(data: T[]) => ({ object: 'list' as const, data });

const instanceLogQuerySchema = z.strictObject({
  lines: z
    .string()
    .regex(/^\d+$/, 'expected a whole number')
    .transform(Number)
    .pipe(z.number().int().min(1).max(1000))
    .default(200),
});

/**
 * `GET /instances/:id/logs?lines=N`: the last N lines (default 200, at most 1000) of the log tail its
 * worker last sent. An instance the store no longer has (a failed one is removed by the reconciler)
 * still answers while its tail is in memory.
 */
async function instanceLog(ctx: ManagementContext, id: string, query: URLSearchParams) {
  const { lines } = parseWith(instanceLogQuerySchema, Object.fromEntries(query));
  const log = ctx.logs?.get(id);
  if (!log && !(await ctx.store.getInstance(id)))
    throw new EdgeFleetError('not_found', `no instance "${clipped(id)}"`);
  return {
    object: 'instance_log' as const,
    id,
    lines: log ? log.lines.slice(-lines) : [],
    updatedAtMs: log ? log.updatedAtMs : null,
  };
}

/**
 * Handles `/api/v1/{sites,nodes,deployments,instances,keys,usage,endpoints}` and the dashboard's
 * `catalog`, `planner/…` (planner-routes.ts), `traffic` (traffic-routes.ts) and `instances/:id/logs`
 * after the admin key was checked. Deployments (and their preview) are in deployment-routes.ts; nodes
 * (list, cordon and drain, revoke) in node-routes.ts; API keys are in key-routes.ts, the usage ledger in
 * usage-routes.ts, external endpoints in endpoint-routes.ts.
 * `path` is the part after `/api/v1/`.
 */
export async function handleManagement(
  ctx: ManagementContext,
  request: IncomingMessage,
  response: ServerResponse,
  path: string,
  query: URLSearchParams,
): Promise<void> {
  const { store } = ctx;
  const method = request.method ?? 'GET';
  const segments = path.split('/').filter((s) => s !== '');
  const [resource, id, ...rest] = segments;
  const allow = (allowed: string[]): void => {
    if (rest.length > 0) throw new EdgeFleetError('not_found', `no route /api/v1/${clipped(path)}`);
    if (!allowed.includes(method)) throw methodNotAllowed(method, `/api/v1/${path}`, allowed);
  };

  if (resource === 'keys') return handleKeys(ctx, request, response, id, rest);
  if (resource === 'usage') return handleUsage(ctx, request, response, segments.slice(1), query);
  if (resource === 'endpoints') return handleEndpoints(ctx, request, response, id, rest);
  if (resource === 'gateway') return handleGatewaySync(ctx, request, response, id, rest);
  if (resource === 'traffic') {
    return handleTraffic(store, request, response, segments.slice(1), query, (ctx.now ?? Date.now)());
  }
  if (resource === 'catalog' || resource === 'planner') {
    if (await handlePlanner(ctx.maxBodyBytes, request, response, segments)) return;
  }
  if (resource === 'sites' && id === undefined) {
    allow(['GET']);
    return sendJson(response, 200, list(await store.listSites()));
  }
  if (resource === 'nodes') return handleNodes(ctx, request, response, id, rest);
  if (resource === 'instances' && id === undefined) {
    allow(['GET']);
    const filter = parseWith(listInstancesQuerySchema, Object.fromEntries(query));
    const instances = await store.listInstances(
      filter.deployment === undefined ? {} : { deploymentId: filter.deployment },
    );
    // The engine key is for workers and gateways (the route table), never shown here.
    return sendJson(response, 200, list(instances.map(({ engineKey: _engineKey, ...view }) => view)));
  }
  if (resource === 'instances' && id !== undefined && rest.length === 1 && rest[0] === 'logs') {
    if (method !== 'GET') throw methodNotAllowed(method, `/api/v1/${path}`, ['GET']);
    return sendJson(response, 200, await instanceLog(ctx, id, query));
  }
  if (resource === 'deployments') return handleDeployments(ctx, request, response, id, rest);
  throw new EdgeFleetError('not_found', `no route /api/v1/${clipped(path)}`);
}
