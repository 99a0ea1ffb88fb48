import { EdgeFleetError } from '../../spec/edgefleet-error.js';
import { estimateDefaults } from '../../planner/estimate-input.js';
import { deviceGroups, fitCandidates, type FitContext } from './fit-candidates.js';
import { FleetLedger } from './fleet-ledger.js';
import { pendingReason } from './pending-reason.js';
import { DeploymentProbe } from './planner-probe.js';
import { compareScored, scoreCandidate, type ScoredCandidate } from './score-candidate.js';
import type {
  PendingDeployment,
  Placement,
  ScheduleInput,
  SchedulePlan,
  SchedulerDeployment,
} from './scheduler-types.js';

function toPlacement(deploymentId: string, best: ScoredCandidate): Placement {
  const c = best.candidate;
  const head = c.shards[0];
  if (head === undefined) throw new EdgeFleetError('internal_error', 'a candidate has at least one node');
  const placement: Placement = {
    deploymentId,
    nodeId: head.node.id,
    deviceIndexes: [...head.deviceIndexes],
    engine: c.engine.id,
    tensorParallel: c.engine.multiDeviceSplit === 'tensor' ? c.deviceCount : 1,
    deviceCount: c.deviceCount,
    fit: c.fit,
    nodes: c.shards.map((s) => ({ nodeId: s.node.id, deviceIndexes: [...s.deviceIndexes] })),
    perDeviceBytes: c.perDeviceBytes,
    allocations: c.shards.flatMap((s) =>
      s.deviceIndexes.map((deviceIndex) => ({
        nodeId: s.node.id,
        deviceIndex,
        memoryBytes: c.perDeviceBytes,
      })),
    ),
    hardware: c.resolved.hardware.id,
    score: best.score,
    why: best.why,
  };
  if (c.hostBytes > 0) placement.hostBytes = c.hostBytes;
  return placement;
}

/** The refs a node's model cache may list for this deployment's model. */
function modelRefs(deployment: SchedulerDeployment, probe: DeploymentProbe): string[] {
  const refs = [probe.model.id];
  if (typeof deployment.model === 'string' && deployment.model !== probe.model.id)
    refs.push(deployment.model);
  return refs;
}

/**
 * Places the missing replicas of every deployment (in input order) and says why the rest stay pending.
 * Pure: no I/O, the same input always gives the same plan.
 *
 * Filter: node up, in an allowed site, engine runs on the device's kind, vendor and quantization (the
 * planner's incompatibilities). Fit: the planner's memory per device against free device memory (usable
 * share minus what is allocated, including this call's earlier placements): one device, then several
 * devices of one node, then several nodes of one site (multi-node engines), then host offload. Score:
 * spread or binpack, plus a bonus where the model file is cached.
 */
export function schedule(input: ScheduleInput): SchedulePlan {
  const ledger = new FleetLedger(input.nodes, input.instances);
  const placements: Placement[] = [];
  const pending: PendingDeployment[] = [];
  const defaultContext = input.contextTokens ?? estimateDefaults.contextTokens;

  for (const deployment of input.deployments) {
    const missing = Math.max(0, deployment.replicas - ledger.replicas(deployment.id));
    if (missing === 0) continue;
    let probe: DeploymentProbe;
    try {
      probe = new DeploymentProbe(deployment, defaultContext);
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      pending.push({ deploymentId: deployment.id, replicasMissing: missing, reason });
      continue;
    }
    const sites = deployment.siteConstraints ?? [];
    const upInSites = input.nodes.filter(
      (n) => n.status === 'up' && (sites.length === 0 || sites.includes(n.siteId)),
    );
    const eligible = upInSites.filter((n) => n.schedulable !== false);
    const ctx: FitContext = {
      deploymentId: deployment.id,
      probe,
      ledger,
      strategy: deployment.strategy ?? 'spread',
      groups: deviceGroups(eligible),
    };
    const refs = modelRefs(deployment, probe);
    for (let placed = 0; placed < missing; placed++) {
      const scored = fitCandidates(ctx)
        .map((candidate) => scoreCandidate(ctx, candidate, refs))
        .sort(compareScored);
      const best = scored[0];
      if (best === undefined) {
        pending.push({
          deploymentId: deployment.id,
          replicasMissing: missing - placed,
          reason: pendingReason(ctx, eligible.length, sites, upInSites.length - eligible.length),
        });
        break;
      }
      const placement = toPlacement(deployment.id, best);
      ledger.place(deployment.id, placement.allocations, placement.hostBytes ?? 0);
      placements.push(placement);
    }
  }
  return { placements, pending };
}
