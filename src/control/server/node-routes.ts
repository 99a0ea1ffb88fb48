/**
 * `/api/v1/nodes` (admin key): list the worker nodes with their devices; `PATCH /nodes/:id` cordons,
 * drains or returns a node to scheduling (like `kubectl cordon`/`drain`/`uncordon`); `DELETE /nodes/:id`
 * revokes it (revoke-node.ts).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { parseWith, readJsonBody } from '../../http/read-json-body.js';
import { sendJson } from '../../http/respond.js';
import { clipped, EdgeFleetError, methodNotAllowed } from '../../spec/edgefleet-error.js';
import { updateNodeRequestSchema } from '../../spec/management-api.js';
import type { Store } from '../../store/store.js';
import type { StoredDevice, StoredNode } from '../../store/store-types.js';
import type { NodeEngines } from './node-engines.js';
import { instanceNodes } from './scheduler-input.js';
import { revokeNode } from './revoke-node.js';

export interface NodeRoutesContext {
  store: Store;
  maxBodyBytes: number;
  /** The fleet changed: the reconciler runs at once. */
  onChange?: () => void;
  nodeEngines?: NodeEngines;
}

/**
 * What the API shows of a node: everything but its credential's hash, with its devices and the engines
 * its worker reported in its last heartbeat (starting, running or still stopping; null: not heard from
 * since this control plane started, or down without having left: node-engines.ts).
 */
function toNodeView(ctx: NodeRoutesContext, node: StoredNode, devices: readonly StoredDevice[]) {
  const { credentialHash: _hidden, ...view } = node;
  return {
    ...view,
    devices: devices.filter((d) => d.nodeId === node.id),
    engines: ctx.nodeEngines?.get(node.id, node.status === 'up') ?? null,
  };
}

export async function handleNodes(
  ctx: NodeRoutesContext,
  request: IncomingMessage,
  response: ServerResponse,
  id: string | undefined,
  rest: readonly string[],
): Promise<void> {
  const { store } = ctx;
  const method = request.method ?? 'GET';
  const path = ['nodes', id, ...rest].filter((s) => s !== undefined).join('/');
  if (rest.length > 0) throw new EdgeFleetError('not_found', `no route /api/v1/${clipped(path)}`);
  const allowed = id === undefined ? ['GET'] : ['PATCH', 'DELETE'];
  if (!allowed.includes(method)) throw methodNotAllowed(method, `/api/v1/${path}`, allowed);

  if (id === undefined) {
    const [nodes, devices] = await Promise.all([store.listNodes(), store.listDevices()]);
    // Revoked nodes are gone for the user (DELETE /nodes/:id); their rows stay only as a record.
    const data = nodes.filter((n) => n.revokedAtMs === null).map((n) => toNodeView(ctx, n, devices));
    return sendJson(response, 200, { object: 'list', data });
  }
  if (method === 'DELETE') {
    const removed = await revokeNode(store, id);
    ctx.onChange?.();
    return sendJson(response, 200, removed);
  }
  const { maintenance } = parseWith(updateNodeRequestSchema, await readJsonBody(request, ctx.maxBodyBytes));
  const node = await store.getNode(id);
  if (!node || node.revokedAtMs !== null) throw new EdgeFleetError('not_found', `no node "${clipped(id)}"`);
  await store.setNodeMaintenance(id, maintenance);
  ctx.onChange?.();
  const instances = (await store.listInstances()).filter((i) => instanceNodes(i).includes(id));
  return sendJson(response, 200, {
    ...toNodeView(ctx, { ...node, maintenance }, await store.listDevices(id)),
    // What runs on it now: a draining node is drained once this is empty.
    instances: instances.map((i) => i.id),
  });
}
