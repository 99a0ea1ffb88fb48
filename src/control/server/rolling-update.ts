/**
 * Rolling updates: a deployment whose revision went up (its model, quantization, engine, context or
 * sites changed) keeps the instances of older revisions serving until enough of the new revision run,
 * then retires them. The reconciler (reconciler.ts) calls these each pass.
 */
import { replicaStates, type SchedulerInstance } from '../scheduler/scheduler-types.js';
import type { Deployment, Instance, LaunchSpec } from '../../store/store-types.js';

/** An instance placed for an older revision of its deployment: it is being replaced. */
export function isOutdated(instance: Instance, deployment: Deployment): boolean {
  return instance.revision < deployment.revision;
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
 * The outdated instances no longer needed: as many are kept as replicas of the current revision are
 * missing from running (`desired` minus those running), running ones first, then the oldest.
 */
export function retiredInstances(
  outdated: readonly Instance[],
  current: readonly Instance[],
  desired: number,
): Instance[] {
  const keep = Math.max(0, desired - current.filter(isRunning).length);
  const live = outdated.filter((i) => replicaStates.includes(i.state));
  const order = (i: Instance) => (isRunning(i) ? 0 : 1);
  const kept = [...live].sort((a, b) => order(a) - order(b) || a.createdAtMs - b.createdAtMs).slice(0, keep);
  return outdated.filter((i) => !kept.includes(i));
}

/**
 * Instances as the scheduler sees them: an outdated one still holds its memory but is not a replica of
 * its deployment (it is counted under a name of its own), so the scheduler places the new revision's
 * replicas beside it.
 */
export function schedulerView(
  instances: readonly Instance[],
  deployments: ReadonlyMap<string, Deployment>,
): SchedulerInstance[] {
  return instances.map((instance) => {
    const deployment = deployments.get(instance.deploymentId);
    return deployment && isOutdated(instance, deployment)
      ? { ...instance, deploymentId: `${instance.deploymentId}@revision-${instance.revision}` }
      : instance;
  });
}

/**
 * Which outdated instance to stop first when the new revision fits only in its place (one GPU that
 * holds one copy of the model): not running ones first, then the oldest. Only while every instance of
 * the new revision is already running, so at most one replica is missing at a time.
 */
export function inPlaceCandidates(outdated: readonly Instance[], current: readonly Instance[]): Instance[] {
  if (outdated.length === 0 || !current.every(isRunning)) return [];
  const order = (i: Instance) => (isRunning(i) ? 1 : 0);
  return [...outdated].sort((a, b) => order(a) - order(b) || a.createdAtMs - b.createdAtMs);
}

/** The status reason of a deployment being updated, e.g. "updating to revision 3: 1 of 2 replica(s) on it running; 1 older still serving". */
export function updatingReason(
  deployment: Deployment,
  desired: number,
  running: number,
  olderServing: number,
): string {
  return (
    `updating to revision ${deployment.revision}: ${running} of ${desired} replica(s) on it running; ` +
    `${olderServing} older still serving`
  );
}
