/**
 * `DELETE /api/v1/nodes/:id`: removes a worker node from the fleet, like GPUStack's worker delete.
 * In one transaction its credential is revoked (heartbeats and anything else signed with it get 401), it is
 * marked down, and its instances are deleted, so the gateway stops routing to them at once and the next
 * reconcile pass places the missing replicas on other nodes. The row stays as a revoked record (never
 * listed, never scheduled); the machine can join again only with a new join token, as a new node.
 */
import { clipped, EdgeFleetError } from '../../spec/edgefleet-error.js';
import type { RevokeNodeResponse } from '../../spec/management-api.js';
import type { Store } from '../../store/store.js';

/** Revokes node `id`; an unknown or already revoked node is a 404. */
export async function revokeNode(store: Store, id: string, nowMs = Date.now()): Promise<RevokeNodeResponse> {
  return store.withTransaction(async (tx) => {
    const node = await tx.getNode(id);
    if (!node || node.revokedAtMs !== null) throw new EdgeFleetError('not_found', `no node "${clipped(id)}"`);
    await tx.revokeNode(id, nowMs);
    const instancesRemoved: string[] = [];
    for (const instance of await tx.listInstances({ nodeId: id })) {
      if (await tx.deleteInstance(instance.id)) instancesRemoved.push(instance.id);
    }
    return { id, object: 'node', deleted: true, revokedAtMs: nowMs, instancesRemoved };
  });
}
