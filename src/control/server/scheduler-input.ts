/**
 * The store's fleet as the scheduler and the routes see it: nodes with their devices (a cordoned or
 * draining node is not schedulable), and the nodes each instance runs on.
 */
import type { SchedulerNode } from '../scheduler/scheduler-types.js';
import type { Instance, StoredDevice, StoredNode } from '../../store/store-types.js';

/** The nodes of an instance: its head node first, then the others in allocation order; none when unplaced. */
export function instanceNodes(instance: Pick<Instance, 'nodeId' | 'allocations'>): string[] {
  const head = instance.nodeId;
  if (head === null) return [];
  return [...new Set([head, ...instance.allocations.map((a) => a.nodeId ?? head)])];
}

/** Nodes that are not revoked, as the scheduler takes them. */
export function schedulerNodes(
  nodes: readonly StoredNode[],
  devices: readonly StoredDevice[],
): SchedulerNode[] {
  return nodes
    .filter((n) => n.revokedAtMs === null)
    .map((n) => ({
      id: n.id,
      siteId: n.siteId,
      status: n.status,
      schedulable: n.maintenance === null,
      devices: devices.filter((d) => d.nodeId === n.id),
    }));
}
