/**
 * Rolling updates: a deployment whose revision went up (its model, quantization, engine, context or
 * sites changed) keeps the instances of older revisions serving until enough of the new revision run,
 * then retires them. The reconciler (reconciler.ts) calls these each pass.
 */
import type { SchedulerInstance } from '../scheduler/scheduler-types.js';
import type { Deployment, Instance, LaunchSpec } from '../../store/store-types.js';
import { instanceNodes } from './scheduler-input.js';

const noNodes: ReadonlySet<string> = new Set();

/**
 * An instance being replaced: placed for an older revision of its deployment, or running on a node that
 * is draining (`draining`: node ids). Either way it serves until a replacement does, then it is retired.
 */
export function isOutdated(
  instance: Instance,
  deployment: Deployment,
  draining: ReadonlySet<string> = noNodes,
): boolean {
  return instance.revision < deployment.revision || instanceNodes(instance).some((id) => draining.has(id));
}

/** What a new instance of the deployment is launched with (kept on the instance while later revisions roll out). */
export function launchSpecOf(deployment: Deployment): LaunchSpec {
  return {
    modelRef: deployment.modelRef,
    quant: deployment.quant,
    contextTokens: deployment.contextTokens,
  };
}

const isRunning = (i: Instance) => i.state === 'running';

/**
 * How long a new instance runs before older ones are retired for it (or the next one replaced in place):
 * longer than a gateway takes to learn of it (the server's route table is at most 500 ms old, a room
 * gateway polls every second), so no request meets a retired instance while the new one is unknown.
 */
export const settleMs = 2500;

/**
 * When each instance was first seen running (the leader's memory; a new leader starts counting again),
 * and whether it has run for `settleMs` by `nowMs`.
 */
export class RunningSince {
  private readonly since = new Map<string, number>();

  /** Records the instances running now; forgets the others. */
  observe(instances: readonly Instance[], nowMs: number): void {
    const running = new Set<string>();
    for (const i of instances) {
      if (!isRunning(i)) continue;
      running.add(i.id);
      if (!this.since.has(i.id)) this.since.set(i.id, nowMs);
    }
    for (const id of this.since.keys()) if (!running.has(id)) this.since.delete(id);
  }

  /** A predicate: running for at least `settleMs` (gateways route to it). */
  settled(nowMs: number): (i: Instance) => boolean {
    return (i) => isRunning(i) && nowMs - (this.since.get(i.id) ?? nowMs) >= settleMs;
  }
}

/**
 * The deployment's instances of its current revision, and those being replaced (of older revisions, or on
 * draining nodes).
 */
export function splitByRevision(
  instances: readonly Instance[],
  deployment: Deployment,
  draining: ReadonlySet<string> = noNodes,
): { current: Instance[]; outdated: Instance[] } {
  const mine = instances.filter((i) => i.deploymentId === deployment.id);
  return {
    current: mine.filter((i) => !isOutdated(i, deployment, draining)),
    outdated: mine.filter((i) => isOutdated(i, deployment, draining)),
  };
}

/** An instance that has served: running, or started again after its engine died (it comes back). */
const hasServed = (i: Instance) => isRunning(i) || (i.state === 'starting' && i.restarts > 0);

/**
 * The outdated instances no longer needed: of those that have served, as many are kept as replicas of
 * the current revision are missing from serving (`desired` minus those `serving`: settled, see
 * RunningSince), running ones first, then the oldest; the others go, and so do outdated ones that never
 * served (a model superseded while it downloads is not fetched to the end).
 */
export function retiredInstances(
  outdated: readonly Instance[],
  current: readonly Instance[],
  desired: number,
  serving: (i: Instance) => boolean,
): Instance[] {
  const keep = Math.max(0, desired - current.filter(serving).length);
  const order = (i: Instance) => (isRunning(i) ? 0 : 1);
  const kept = outdated
    .filter(hasServed)
    .sort((a, b) => order(a) - order(b) || a.createdAtMs - b.createdAtMs)
    .slice(0, keep);
  return outdated.filter((i) => !kept.includes(i));
}

/**
 * Instances as the scheduler sees them: an outdated one (or one on a draining node) still holds its memory
 * but is not a replica of its deployment (it is counted under a name of its own), so the scheduler places
 * the new revision's replicas beside it (or on other nodes).
 */
export function schedulerView(
  instances: readonly Instance[],
  deployments: ReadonlyMap<string, Deployment>,
  draining: ReadonlySet<string> = noNodes,
): SchedulerInstance[] {
  return instances.map((instance) => {
    const deployment = deployments.get(instance.deploymentId);
    return deployment && isOutdated(instance, deployment, draining)
      ? { ...instance, deploymentId: `${instance.deploymentId}@revision-${instance.revision}` }
      : instance;
  });
}

/**
 * The outdated instances that may make room for a replica of the new revision that fits nowhere beside
 * them (a GPU that holds one copy of the model), oldest first. None while a new replica is still on its
 * way (placed, not `serving` yet), or while fewer replicas serve than are desired (one replaced in place
 * failed): at most one replica is missing at a time, and a new revision that does not run never takes
 * the old instances down one after another.
 */
export function inPlaceCandidates(
  outdated: readonly Instance[],
  current: readonly Instance[],
  desired: number,
  serving: (i: Instance) => boolean,
): Instance[] {
  const served = outdated.filter(isRunning).length + current.filter(serving).length;
  if (!current.every(serving) || served < desired) return [];
  return outdated.filter(isRunning).sort((a, b) => a.createdAtMs - b.createdAtMs);
}

/**
 * The status reason of a deployment being updated, e.g. "updating to revision 3: 1 of 2 replica(s) on it
 * running; 1 older still serving", or, when only draining nodes make it move, "moving off draining
 * node(s): 1 of 2 replica(s) elsewhere running; 1 still serving there".
 */
export function updatingReason(
  deployment: Deployment,
  outdated: readonly Instance[],
  desired: number,
  running: number,
  olderServing: number,
): string {
  if (outdated.every((i) => i.revision >= deployment.revision)) {
    return (
      `moving off draining node(s): ${running} of ${desired} replica(s) elsewhere running; ` +
      `${olderServing} still serving there`
    );
  }
  return (
    `updating to revision ${deployment.revision}: ${running} of ${desired} replica(s) on it running; ` +
    `${olderServing} older still serving`
  );
}
