import type { Logger } from '../../telemetry/logger.js';
import type { Store } from '../../store/store.js';
import type { Deployment, DeploymentStatus, Instance } from '../../store/store-types.js';
import { schedule } from '../scheduler/schedule.js';
import { replicaStates, type SchedulerDeployment } from '../scheduler/scheduler-types.js';
import { desiredReplicas, scaledToZeroReason } from './desired-replicas.js';
import { ModelResolver } from './model-resolver.js';
import {
  inPlaceCandidates,
  launchSpecOf,
  retiredInstances,
  RunningSince,
  schedulerView,
  splitByRevision,
  updatingReason,
} from './rolling-update.js';
import { instanceNodes, schedulerNodes } from './scheduler-input.js';
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
 *    `replicas`) and no request came within its `idleTimeoutMs`, then `minReplicas`; instances of its
 *    current revision above the desired count are deleted (not yet running ones first, then the newest;
 *    the worker stops them because they are no longer in its desired list); instances of older revisions,
 *    and those on draining nodes, are deleted once enough of the current one run elsewhere
 *    (rolling-update.ts);
 * 4. `schedule()` places the missing replicas of each current revision beside the older instances, on
 *    nodes that are neither cordoned nor draining;
 *    each placement becomes an instance in state `scheduled` with its head node's device allocations
 *    and what it runs. Where a replica fits only in the place of an older instance (one GPU that holds
 *    one copy of the model), that instance is deleted and the replica placed in its room: one at a
 *    time, once the current revision's other replicas run;
 * 5. each deployment's status and reason are updated (pending: the scheduler's reason; a deployment
 *    scaled to zero is pending with the reason `scaledToZeroReason`; one being updated says how far).
 */
export class Reconciler {
  /** Reads model headers once per ref; deployment previews share it (and its cache). */
  readonly resolver = new ModelResolver();
  /** When instances were first seen running: a rolling update retires old ones only for settled new ones. */
  private readonly runningSince = new RunningSince();
  /**
   * The last error of a failed instance per deployment, with its revision: shown in the status of an
   * update whose new instances fail (they are removed and placed again each pass).
   */
  private readonly lastFailure = new Map<string, { revision: number; error: string }>();
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
      await store.setNodeStatus(node.id, 'down', 'no_heartbeat');
      result.nodesMarkedDown.push(node.id);
      log.warn({ nodeId: node.id, name: node.name, lastHeartbeatAtMs: node.lastHeartbeatAtMs }, 'node down');
    }
    const nodes = (await store.listNodes()).filter((n) => n.revokedAtMs === null);
    const upNodes = new Set(nodes.filter((n) => n.status === 'up').map((n) => n.id));
    const draining = new Set(nodes.filter((n) => n.maintenance === 'draining').map((n) => n.id));
    const instances: Instance[] = [];
    for (const instance of await store.listInstances()) {
      const lost = instanceNodes(instance).some((id) => !upNodes.has(id));
      if (lost || instance.state === 'failed' || instance.state === 'stopped') {
        if (instance.state === 'failed' && instance.lastError !== null) {
          const failure = { revision: instance.revision, error: instance.lastError };
          this.lastFailure.set(instance.deploymentId, failure);
        }
        await store.deleteInstance(instance.id);
        result.instancesRemoved.push(instance.id);
        log.info(
          {
            instanceId: instance.id,
            nodeId: instance.nodeId,
            state: instance.state,
            ...(instance.lastError !== null && { lastError: instance.lastError }),
          },
          'instance removed',
        );
      } else {
        instances.push(instance);
      }
    }

    this.runningSince.observe(instances, now);
    const serving = this.runningSince.settled(now);
    const deployments = (await store.listDeployments()).filter((d) => d.status !== 'deleting');
    const byId = new Map(deployments.map((d) => [d.id, d]));
    for (const id of this.lastFailure.keys()) if (!byId.has(id)) this.lastFailure.delete(id);
    const desired = new Map(deployments.map((d) => [d.id, desiredReplicas(d, now)]));
    const remove = async (instance: Instance, fields: Record<string, unknown>, message: string) => {
      await store.deleteInstance(instance.id);
      instances.splice(instances.indexOf(instance), 1);
      result.instancesRemoved.push(instance.id);
      log.info({ instanceId: instance.id, deploymentId: instance.deploymentId, ...fields }, message);
    };
    for (const deployment of deployments) {
      const want = desired.get(deployment.id) ?? deployment.replicas;
      const { current, outdated } = splitByRevision(instances, deployment, draining);
      for (const instance of surplus(current, want)) {
        await remove(instance, { desired: want }, 'instance removed: deployment idle, scaled down');
      }
      for (const instance of retiredInstances(outdated, current, want, serving)) {
        if (instance.revision >= deployment.revision) {
          // On a draining node: replaced elsewhere, or no longer needed (scaled down).
          const why = want === 0 ? 'deployment idle, scaled down' : 'moved off a draining node';
          await remove(instance, { nodeId: instance.nodeId }, `instance removed: ${why}`);
          continue;
        }
        const fields = { revision: instance.revision, replacedBy: deployment.revision };
        await remove(instance, fields, 'instance removed: replaced by the new revision');
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
    const fleet = schedulerNodes(nodes, devices);
    const plan = (forDeployments: SchedulerDeployment[], among: readonly Instance[]) =>
      schedule({
        deployments: forDeployments,
        nodes: fleet,
        instances: schedulerView(among, byId, draining),
        contextTokens: this.options.contextTokens,
      });
    let placed = plan(schedulable, instances);
    // A new revision with no room beside the old one: replace an older instance in place, where a replica
    // would then fit (planned again without it, the other deployments included).
    let madeRoom = false;
    for (const pending of placed.pending) {
      const deployment = byId.get(pending.deploymentId);
      const wanted = schedulable.find((d) => d.id === pending.deploymentId);
      if (!deployment || !wanted) continue;
      if (placed.placements.some((p) => p.deploymentId === deployment.id)) continue; // room beside them
      const { current, outdated } = splitByRevision(instances, deployment, draining);
      // Only an older revision is replaced in place: one on a draining node stays until a replica runs
      // elsewhere (taking it down first would free its other nodes for a replica with no room beside it).
      const candidates = inPlaceCandidates(outdated, current, wanted.replicas, serving).filter(
        (old) => old.revision < deployment.revision,
      );
      const room = candidates.find((old) =>
        plan(
          schedulable,
          instances.filter((i) => i !== old),
        ).placements.some((p) => p.deploymentId === deployment.id),
      );
      if (room === undefined) continue;
      const fields = { revision: room.revision, replacedBy: deployment.revision };
      await remove(
        room,
        fields,
        'instance removed: replaced in place by the new revision (no room beside it)',
      );
      madeRoom = true;
    }
    if (madeRoom) placed = plan(schedulable, instances);
    for (const placement of placed.placements) {
      const deployment = byId.get(placement.deploymentId);
      if (!deployment) continue;
      const instance = await store.createInstance({
        deploymentId: placement.deploymentId,
        nodeId: placement.nodeId,
        state: 'scheduled',
        engine: placement.engine,
        revision: deployment.revision,
        launchSpec: launchSpecOf(deployment),
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
      log.info(
        { instanceId: instance.id, revision: instance.revision, why: placement.why },
        'instance placed',
      );
    }
    for (const pending of placed.pending) reasons.set(pending.deploymentId, pending.reason);
    for (const deployment of deployments) {
      const replicas = desired.get(deployment.id) ?? deployment.replicas;
      await this.updateStatus(deployment, replicas, instances, draining, reasons.get(deployment.id));
    }
    return result;
  }

  private async updateStatus(
    deployment: Deployment,
    desired: number,
    instances: Instance[],
    draining: ReadonlySet<string>,
    pendingReason?: string,
  ) {
    const { current, outdated } = splitByRevision(instances, deployment, draining);
    const live = current.filter((i) => replicaStates.includes(i.state)).length;
    const running = current.filter((i) => i.state === 'running').length;
    const olderServing = outdated.filter((i) => i.state === 'running').length;
    let status: DeploymentStatus;
    let reason: string | null;
    if (outdated.length === 0) this.lastFailure.delete(deployment.id); // no update in progress
    if (outdated.length > 0) {
      // Being updated: the older instances serve until the new revision's replace them.
      const serving = running + olderServing;
      status = serving >= desired ? 'running' : serving > 0 ? 'degraded' : 'pending';
      reason = updatingReason(deployment, outdated, desired, running, olderServing);
      if (pendingReason !== undefined) reason += `; ${desired - live} replica(s) unplaced: ${pendingReason}`;
      const failure = this.lastFailure.get(deployment.id);
      if (failure?.revision === deployment.revision && running < desired) {
        reason += `; a new instance failed: ${failure.error.slice(0, 300)}`;
      }
    } else if (desired === 0 && live === 0) {
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
