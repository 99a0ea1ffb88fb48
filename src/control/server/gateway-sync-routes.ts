/**
 * `/api/v1/gateway/{routes,keys}` (a gateway or admin key): what a per-room gateway (`edgefleet gateway`) pulls to
 * serve its room and to keep serving it while the control plane is unreachable; and
 * `POST /api/v1/gateway/activate`, how it reports requests for deployments that scale to zero.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { parseWith, readJsonBody } from '../../http/read-json-body.js';
import { sendJson } from '../../http/respond.js';
import { clipped, EdgeFleetError, methodNotAllowed } from '../../spec/edgefleet-error.js';
import {
  gatewayActivateRequestSchema,
  type GatewayKeysResponse,
  type GatewayRoutesResponse,
} from '../../spec/gateway-sync.js';
import type { Store } from '../../store/store.js';
import { activateDeployment } from './activate-deployment.js';
import type { InstanceLoads } from './instance-loads.js';
import { principalOf } from './key-lookup.js';
import { buildRouteTable } from './route-table.js';

export interface GatewaySyncContext {
  store: Store;
  loads?: InstanceLoads;
  maxBodyBytes: number;
  /** Asks the reconciler to act soon (a deployment scaled to zero was activated). */
  onChange?: () => void;
}

/** Every key that is not revoked, with its hash and the tokens it has used so far. */
export async function listGatewayKeys(store: Store, nowMs = Date.now()): Promise<GatewayKeysResponse> {
  const [keys, usage] = await Promise.all([
    store.listApiKeys(),
    store.sumUsage({ fromMs: 0, toMs: Number.MAX_SAFE_INTEGER }),
  ]);
  const used = new Map<string, number>();
  for (const u of usage) used.set(u.keyId, (used.get(u.keyId) ?? 0) + u.promptTokens + u.completionTokens);
  const data = keys
    .filter((key) => key.revokedAtMs === null)
    .map((key) => ({ keyHash: key.keyHash, ...principalOf(key, used.get(key.id) ?? 0) }));
  return { object: 'list', builtAtMs: nowMs, data };
}

/** Handles `/api/v1/gateway/:what`; `what` and `rest` are the path segments after `gateway`. */
export async function handleGatewaySync(
  ctx: GatewaySyncContext,
  request: IncomingMessage,
  response: ServerResponse,
  what: string | undefined,
  rest: readonly string[],
): Promise<void> {
  const method = request.method ?? 'GET';
  if (what === 'activate' && rest.length === 0) {
    if (method !== 'POST') throw methodNotAllowed(method, '/api/v1/gateway/activate', ['POST']);
    const { deploymentId } = parseWith(
      gatewayActivateRequestSchema,
      await readJsonBody(request, ctx.maxBodyBytes),
    );
    const known = await activateDeployment(ctx.store, deploymentId, Date.now(), () => ctx.onChange?.());
    if (!known) throw new EdgeFleetError('not_found', `no deployment ${clipped(deploymentId)}`);
    return sendJson(response, 200, { object: 'deployment_activation', deploymentId });
  }
  if ((what !== 'routes' && what !== 'keys') || rest.length > 0) {
    throw new EdgeFleetError('not_found', `no route /api/v1/gateway/${clipped([what, ...rest].join('/'))}`);
  }
  if (method !== 'GET') throw methodNotAllowed(method, `/api/v1/gateway/${what}`, ['GET']);
  if (what === 'routes') {
    const table: GatewayRoutesResponse = await buildRouteTable(ctx.store, Date.now(), ctx.loads);
    return sendJson(response, 200, table, { 'cache-control': 'no-store' });
  }
  return sendJson(response, 200, await listGatewayKeys(ctx.store), { 'cache-control': 'no-store' });
}
