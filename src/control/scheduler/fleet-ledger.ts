import {
  memoryHoldingStates,
  replicaStates,
  type PlacementAllocation,
  type SchedulerInstance,
  type SchedulerNode,
} from './scheduler-types.js';

const deviceKey = (nodeId: string, deviceIndex: number): string => `${nodeId}#${deviceIndex}`;

/**
 * What is already allocated where, and how many replicas of each deployment run in each site and on
 * each node. Seeded from existing instances; every placement made in the same scheduling pass is added,
 * so later placements see the memory the earlier ones took.
 */
export class FleetLedger {
  private readonly deviceBytes = new Map<string, number>();
  private readonly hostBytes = new Map<string, number>();
  private readonly replicasBySite = new Map<string, number>();
  private readonly replicasByNode = new Map<string, number>();
  private readonly replicasByDeployment = new Map<string, number>();
  private readonly siteOfNode = new Map<string, string>();
  private readonly upNodes = new Set<string>();

  constructor(nodes: readonly SchedulerNode[], instances: readonly SchedulerInstance[]) {
    for (const node of nodes) {
      this.siteOfNode.set(node.id, node.siteId);
      if (node.status === 'up') this.upNodes.add(node.id);
    }
    for (const instance of instances) {
      if (instance.nodeId === null) continue;
      const head = instance.nodeId;
      const nodeIds = [...new Set([head, ...instance.allocations.map((a) => a.nodeId ?? head)])];
      if (memoryHoldingStates.includes(instance.state)) {
        for (const nodeId of nodeIds) {
          const onNode = instance.allocations.filter((a) => (a.nodeId ?? head) === nodeId);
          this.reserve(nodeId, onNode, nodeId === head ? (instance.hostBytes ?? 0) : 0);
        }
      }
      // A replica with a down (or unknown) node is gone: the scheduler places it again elsewhere.
      if (replicaStates.includes(instance.state) && nodeIds.every((id) => this.upNodes.has(id))) {
        this.countReplica(instance.deploymentId, nodeIds);
      }
    }
  }

  /** Bytes already reserved on one device. */
  allocated(nodeId: string, deviceIndex: number): number {
    return this.deviceBytes.get(deviceKey(nodeId, deviceIndex)) ?? 0;
  }

  /** Host bytes already reserved on a node for offloaded experts. */
  hostAllocated(nodeId: string): number {
    return this.hostBytes.get(nodeId) ?? 0;
  }

  /** Running (or about to run) replicas of a deployment. */
  replicas(deploymentId: string): number {
    return this.replicasByDeployment.get(deploymentId) ?? 0;
  }

  replicasInSite(deploymentId: string, siteId: string): number {
    return this.replicasBySite.get(`${deploymentId}@${siteId}`) ?? 0;
  }

  replicasOnNode(deploymentId: string, nodeId: string): number {
    return this.replicasByNode.get(`${deploymentId}@${nodeId}`) ?? 0;
  }

  /** Records a placement: its memory and one more replica of its deployment. */
  place(deploymentId: string, allocations: readonly PlacementAllocation[], hostBytes: number): void {
    const nodeIds = [...new Set(allocations.map((a) => a.nodeId))];
    for (const nodeId of nodeIds) {
      const onNode = allocations.filter((a) => a.nodeId === nodeId);
      this.reserve(nodeId, onNode, nodeId === nodeIds[0] ? hostBytes : 0);
    }
    this.countReplica(deploymentId, nodeIds);
  }

  private reserve(
    nodeId: string,
    allocations: readonly { deviceIndex: number; memoryBytes: number }[],
    hostBytes: number,
  ): void {
    for (const allocation of allocations) {
      const key = deviceKey(nodeId, allocation.deviceIndex);
      this.deviceBytes.set(key, (this.deviceBytes.get(key) ?? 0) + allocation.memoryBytes);
    }
    if (hostBytes > 0) this.hostBytes.set(nodeId, this.hostAllocated(nodeId) + hostBytes);
  }

  private countReplica(deploymentId: string, nodeIds: readonly string[]): void {
    const bump = (map: Map<string, number>, key: string): void => {
      map.set(key, (map.get(key) ?? 0) + 1);
    };
    bump(this.replicasByDeployment, deploymentId);
    const sites = new Set<string>();
    for (const nodeId of nodeIds) {
      bump(this.replicasByNode, `${deploymentId}@${nodeId}`);
      const siteId = this.siteOfNode.get(nodeId);
      if (siteId !== undefined) sites.add(siteId);
    }
    for (const siteId of sites) bump(this.replicasBySite, `${deploymentId}@${siteId}`);
  }
}
