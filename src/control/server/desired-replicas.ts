/** Scale to zero: how many replicas a deployment should have now (the reconciler and the route table). */
import type { Deployment } from '../../store/store-types.js';

/** The status reason of a deployment scaled to zero (its status is `pending`). */
export const scaledToZeroReason = 'scaled to zero; starts on the next request';

/**
 * All its replicas while requests come (the last within `idleTimeoutMs`) or when it never scales down
 * (`minReplicas` = `replicas`); else `minReplicas`.
 */
export function desiredReplicas(deployment: Deployment, nowMs: number): number {
  if (deployment.minReplicas >= deployment.replicas) return deployment.replicas;
  const last = deployment.lastRequestAtMs;
  return last !== null && nowMs - last < deployment.idleTimeoutMs
    ? deployment.replicas
    : deployment.minReplicas;
}
