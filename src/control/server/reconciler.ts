import type { Logger } from '../../telemetry/logger.js';
import type { Store } from '../../store/store.js';
import type { Deployment, DeploymentStatus, Instance } from '../../store/store-types.js';
import { schedule } from '../scheduler/schedule.js';
import { replicaStates, type SchedulerDeployment } from '../scheduler/scheduler-types.js';
import { ModelResolver } from './model-resolver.js';

export interface ReconcilerOptions {
  store: Store;
  log: Logger;
  /** A node whose last heartbeat is older than this is marked down. */
  nodeTimeoutMs: number;
  contextTokens: number;
  now?: () => number;
}

export interface ReconcileResult {
  leader: boolean;
  nodesMarkedDown: string[];
  instancesRemoved: string[];
  instancesCreated: string[];
}

/**
 * One pass of the control loop, run only by the leader (`tryAcquireLeadership('scheduler')`):
 * 1. nodes not heard from within `nodeTimeoutMs` are marked down;
 * 2. instances on down nodes, and instances a worker reported `failed` or `stopped`, are deleted (their
 *    memory is freed and they stop counting as replicas; a node that comes back stops them because they
 *    are no longer in its desired list);
 * 3. `schedule()` places the missing replicas; each placement becomes an instance in state `scheduled`
 *    with its head node's device allocations;
 * 4. each deployment's status and reason are updated (pending: the scheduler's reason).
 */
export class Reconciler {
  private readonly resolver = new ModelResolver();
  private running: Promise<ReconcileResult> | undefined;

  constructor(private readonly options: ReconcilerOptions) {}

  /** Runs one pass; concurrent calls share the pass in progress. */
  reconcileOnce(): Promise<ReconcileResult> {
    this.running ??= this.pass().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  /** Resolves when no pass is in progress. */
  async settled(): Promise<void> {
    await this.running?.catch(() => undefined);
  }

  private async pass(): Promise<ReconcileResult> {
    const { store, log } = this.options;
    const now = (this.options.now ?? Date.now)();
    const result: ReconcileResult = {
      leader: false,
      nodesMarkedDown: [],
      instancesRemoved: [],
      instancesCreated: [],
    };
    if (!(await store.tryAcquireLeadership('scheduler'))) return result;
    result.leader = true;

    for (const node of await store.listNodesNotSeenSince(now - this.options.nodeTimeoutMs)) {
      await store.setNodeStatus(node.id, 'down');
      result.nodesMarkedDown.push(node.id);
      log.warn({ nodeId: node.id, name: node.name, lastHeartbeatAtMs: node.lastHeartbeatAtMs }, 'node down');
    }
    const nodes = (await store.listNodes()).filter((n) => n.revokedAtMs === null);
    const upNodes = new Set(nodes.filter((n) => n.status === 'up').map((n) => n.id));
    const instances: Instance[] = [];
    for (const instance of await store.listInstances()) {
      const instanceNodes = [instance.nodeId, ...instance.allocations.map((a) => a.nodeId)];
      const lost = instanceNodes.some((id) => id !== null && id !== undefined && !upNodes.has(id));
      if (lost || instance.state === 'failed' || instance.state === 'stopped') {
        await store.deleteInstance(instance.id);
        result.instancesRemoved.push(instance.id);
        log.info(
          { instanceId: instance.id, nodeId: instance.nodeId, state: instance.state },
          'instance removed',
        );
      } else {
        instances.push(instance);
      }
    }

    const deployments = (await store.listDeployments()).filter((d) => d.status !== 'deleting');
    const devices = await store.listDevices();
    const reasons = new Map<string, string>();
    const schedulable: SchedulerDeployment[] = [];
    for (const deployment of deployments) {
      const resolved = await this.resolver.resolve(deployment);
      if (resolved.ok) schedulable.push(resolved.deployment);
      else reasons.set(deployment.id, resolved.reason);
    }
    const plan = schedule({
      deployments: schedulable,
      nodes: nodes.map((n) => ({
        id: n.id,
        siteId: n.siteId,
        status: n.status,
        devices: devices.filter((d) => d.nodeId === n.id),
      })),
      instances,
      contextTokens: this.options.contextTokens,
    });
    for (const placement of plan.placements) {
      const instance = await store.createInstance({
        deploymentId: placement.deploymentId,
        nodeId: placement.nodeId,
        state: 'scheduled',
        engine: placement.engine,
        // The head node's devices, then those of the other nodes of a multi-node instance.
        allocations: placement.allocations.map(({ nodeId, deviceIndex, memoryBytes }) => ({
          deviceIndex,
          memoryBytes,
          ...(nodeId !== placement.nodeId && { nodeId }),
        })),
      });
      instances.push(instance);
      result.instancesCreated.push(instance.id);
      log.info({ instanceId: instance.id, why: placement.why }, 'instance placed');
    }
    for (const pending of plan.pending) reasons.set(pending.deploymentId, pending.reason);
    for (const deployment of deployments) {
      await this.updateStatus(deployment, instances, reasons.get(deployment.id));
    }
    return result;
  }

  private async updateStatus(deployment: Deployment, instances: Instance[], pendingReason?: string) {
    const mine = instances.filter((i) => i.deploymentId === deployment.id);
    const live = mine.filter((i) => replicaStates.includes(i.state)).length;
    const running = mine.filter((i) => i.state === 'running').length;
    let status: DeploymentStatus;
    let reason: string | null;
    if (pendingReason !== undefined) {
      status = live > 0 ? 'degraded' : 'pending';
      reason = `${deployment.replicas - live} replica(s) unplaced: ${pendingReason}`;
    } else if (running >= deployment.replicas) {
      status = 'running';
      reason = null;
    } else {
      status = running > 0 ? 'degraded' : 'pending';
      reason = `${running} of ${deployment.replicas} replica(s) running; the rest are being started`;
    }
    if (status === deployment.status && reason === deployment.statusReason) return;
    try {
      await this.options.store.updateDeployment(deployment.id, { status, statusReason: reason });
    } catch (error) {
      // Deleted meanwhile: nothing to record.
      this.options.log.debug({ err: error, deploymentId: deployment.id }, 'deployment status not updated');
    }
  }
}
