import { EdgeFleetError } from '../../spec/edgefleet-error.js';
import type { Candidate, FitContext } from './fit-candidates.js';
import { freeBytes } from './fit-candidates.js';

/** Bytes in the unit that reads best, as the planner prints them. */
export function formatBytes(bytes: number): string {
  if (bytes >= 1e9) return `${(bytes / 1e9).toFixed(1)} GB`;
  if (bytes >= 1e6) return `${(bytes / 1e6).toFixed(1)} MB`;
  return `${(bytes / 1e3).toFixed(0)} kB`;
}

/** Where a device is, for people: `node-a/gpu0`. */
export const deviceLabel = (nodeId: string, kind: string, index: number): string =>
  `${nodeId}/${kind}${index}`;

/** Weights of the score's parts; replica counts dominate spread, free memory and cache order the rest. */
export const scoreWeights = {
  replicaInSite: 1000,
  replicaOnNode: 100,
  freeMemory: 50,
  cachedModel: 25,
} as const;

export interface ScoredCandidate {
  candidate: Candidate;
  score: number;
  why: string;
}

/**
 * Scores a candidate (higher is better). spread: fewer replicas of this deployment in the site, then on the
 * node, then the most free memory left; binpack: the least free memory left. Both: a bonus when the model
 * file is already cached on the node.
 */
export function scoreCandidate(
  ctx: FitContext,
  candidate: Candidate,
  modelRefs: readonly string[],
): ScoredCandidate {
  const head = candidate.shards[0];
  if (head === undefined) throw new EdgeFleetError('internal_error', 'a candidate has at least one node');
  let usable = 0;
  let freeAfter = 0;
  let freeBefore = Infinity;
  for (const shard of candidate.shards) {
    const group = ctx.groups.find(
      (g) => g.node.id === shard.node.id && g.resolved.groupKey === candidate.resolved.groupKey,
    );
    if (group === undefined) continue;
    for (const device of group.devices) {
      const free = freeBytes(ctx.ledger, group, device.index, candidate.usablePerDeviceBytes);
      const chosen = shard.deviceIndexes.includes(device.index);
      if (chosen) freeBefore = Math.min(freeBefore, free);
      usable += candidate.usablePerDeviceBytes;
      freeAfter += chosen ? free - candidate.perDeviceBytes : free;
    }
  }
  const freeFraction = usable > 0 ? Math.max(0, freeAfter / usable) : 0;
  const cached = candidate.shards.every((s) =>
    (s.node.cachedModels ?? []).some((m) => modelRefs.includes(m)),
  );
  const siteReplicas = ctx.ledger.replicasInSite(ctx.deploymentId, head.node.siteId);
  const nodeReplicas = Math.max(
    ...candidate.shards.map((s) => ctx.ledger.replicasOnNode(ctx.deploymentId, s.node.id)),
  );
  const bonus = cached ? scoreWeights.cachedModel : 0;
  const raw =
    ctx.strategy === 'spread'
      ? -scoreWeights.replicaInSite * siteReplicas -
        scoreWeights.replicaOnNode * nodeReplicas +
        scoreWeights.freeMemory * freeFraction +
        bonus
      : scoreWeights.freeMemory * (1 - freeFraction) + bonus;
  const score = Math.round(raw * 1000) / 1000;

  const hardware = candidate.resolved.hardware;
  const where = candidate.shards
    .map((s) => s.deviceIndexes.map((i) => deviceLabel(s.node.id, hardware.kind, i)).join(', '))
    .join(', ');
  const parts = [
    `${candidate.fit}: ${candidate.engine.id} on ${candidate.deviceCount}× ${hardware.id} (${where})`,
    `planner needs ${formatBytes(candidate.perDeviceBytes)} per device, ${formatBytes(freeBefore)} free` +
      (candidate.hostBytes > 0
        ? `, plus ${formatBytes(candidate.hostBytes)} of host memory for experts`
        : ''),
    ctx.strategy === 'spread'
      ? `spread: ${siteReplicas} replica(s) already in site ${head.node.siteId}, ${nodeReplicas} on the node, ${(freeFraction * 100).toFixed(0)}% free after`
      : `binpack: ${(freeFraction * 100).toFixed(0)}% free after`,
  ];
  if (cached) parts.push('model file already cached');
  if (!candidate.resolved.known) parts.push('hardware id unknown: judged by its memory only');
  return { candidate, score, why: parts.join('; ') };
}

/** Best first; ties go to the lower node id, then the lower device index. */
export function compareScored(a: ScoredCandidate, b: ScoredCandidate): number {
  if (a.score !== b.score) return b.score - a.score;
  const nodeA = a.candidate.shards[0]?.node.id ?? '';
  const nodeB = b.candidate.shards[0]?.node.id ?? '';
  if (nodeA !== nodeB) return nodeA.localeCompare(nodeB);
  return (a.candidate.shards[0]?.deviceIndexes[0] ?? 0) - (b.candidate.shards[0]?.deviceIndexes[0] ?? 0);
}
