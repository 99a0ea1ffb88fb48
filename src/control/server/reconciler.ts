import type { Logger } from '../../telemetry/logger.js';
import type { Store } from '../../store/store.js';
import type { Deployment, DeploymentStatus, Instance } from '../../store/store-types.js';
import { schedule } from '../scheduler/schedule.js';
import { replicaStates, type SchedulerDeployment } from '../scheduler/scheduler-types.js';
import { desiredReplicas, scaledToZeroReason } from './desired-replicas.js';
import { ModelResolver } from './model-resolver.js';
import { newSecret } from './secrets.js';

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

/** Instances to delete so that at most `desired` replicas are left: not yet running ones first, then the newest. */
function surplus(mine: readonly Instance[], desired: number): Instance[] {
  const replicas = mine.filter((i) => replicaStates.includes(i.state));
  if (replicas.length <= desired) return [];
  const order = (i: Instance) => (i.state === 'running' ? 1 : 0);
  return [...replicas]
    .sort((a, b) => order(a) - order(b) || b.createdAtMs - a.createdAtMs || b.id.localeCompare(a.id))
    .slice(0, replicas.length - desired);
}

/**
 * One pass of the control loop, run only by the leader (`tryAcquireLeadership('scheduler')`):
 * 1. nodes not heard from within `nodeTimeoutMs` are marked down;
 * 2. instances on down nodes, and instances a worker reported `failed` or `stopped`, are deleted (their
 *    memory is freed and they stop counting as replicas; a node that comes back stops them because they
 *    are no longer in its desired list);
 * 3. each deployment's desired replicas: all of them, unless it may scale down (`minReplicas` below
 *    `replicas`) and no request came within its `idleTimeoutMs`, then `minReplicas`; instances above the
 *    desired count are deleted (not yet running ones first, then the newest; the worker stops them because
 *    they are no longer in its desired list);
 * 4. `schedule()` places the missing replicas; each placement becomes an instance in state `scheduled`
 *    with its head node's device allocations;
 * 5. each deployment's status and reason are updated (pending: the scheduler's reason; a deployment
 *    scaled to zero is pending with the reason `scaledToZeroReason`).
 */
export class Reconciler {
  /** Reads model headers once per ref; deployment previews share it (and its cache). */
  readonly resolver = new ModelResolver();
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
    const desired = new Map(deployments.map((d) => [d.id, desiredReplicas(d, now)]));
    for (const deployment of deployments) {
      const mine = instances.filter((i) => i.deploymentId === deployment.id);
      for (const instance of surplus(mine, desired.get(deployment.id) ?? deployment.replicas)) {
        await store.deleteInstance(instance.id);
        instances.splice(instances.indexOf(instance), 1);
        result.instancesRemoved.push(instance.id);
        log.info(
          { instanceId: instance.id, deploymentId: deployment.id, desired: desired.get(deployment.id) },
          'instance removed: deployment idle, scaled down',
        );
      }
    }
    const devices = await store.listDevices();
    const reasons = new Map<string, string>();
    const schedulable: SchedulerDeployment[] = [];
    for (const deployment of deployments) {
      const replicas = desired.get(deployment.id) ?? deployment.replicas;
      // Scaled to zero: nothing to place, and no model header to read until it is needed.
      if (replicas === 0) continue;
      const resolved = await this.resolver.resolve(deployment);
      if (resolved.ok) schedulable.push({ ...resolved.deployment, replicas });
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
        // The engine requires it; gateways get it in the route table.
        engineKey: newSecret('engine'),
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
      const replicas = desired.get(deployment.id) ?? deployment.replicas;
      await this.updateStatus(deployment, replicas, instances, reasons.get(deployment.id));
    }
    return result;
  }

  private async updateStatus(
    deployment: Deployment,
    desired: number,
    instances: Instance[],
    pendingReason?: string,
  ) {
    const mine = instances.filter((i) => i.deploymentId === deployment.id);
    const live = mine.filter((i) => replicaStates.includes(i.state)).length;
    const running = mine.filter((i) => i.state === 'running').length;
    let status: DeploymentStatus;
    let reason: string | null;
    if (desired === 0 && live === 0) {
      status = 'pending';
      reason = scaledToZeroReason;
    } else if (pendingReason !== undefined) {
      status = live > 0 ? 'degraded' : 'pending';
      reason = `${desired - live} replica(s) unplaced: ${pendingReason}`;
    } else if (running >= desired) {
      status = 'running';
      reason =
        desired < deployment.replicas
          ? `idle: scaled down to ${desired} of ${deployment.replicas} replica(s)`
          : null;
    } else {
      status = running > 0 ? 'degraded' : 'pending';
      reason = `${running} of ${desired} replica(s) running; the rest are being started`;
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
