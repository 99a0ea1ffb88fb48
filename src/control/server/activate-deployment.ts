/**
 * Scale to zero: a gateway tells the control plane that a request for a deployment is in flight. The
 * request time is recorded (so a busy deployment is never scaled down), and a deployment that scales
 * down while idle is reconciled at once, so one scaled to zero is placed without waiting for the next
 * loop. Used by the gateway inside the server and, through `POST /api/v1/gateway/activate`, by per-room
 * gateways.
 */
import type { Store } from '../../store/store.js';
import { desiredReplicas } from './desired-replicas.js';

export async function activateDeployment(
  store: Store,
  deploymentId: string,
  nowMs: number,
  reconcileNow: () => unknown,
): Promise<boolean> {
  const deployment = await store.getDeployment(deploymentId);
  if (!deployment) return false;
  await store.touchDeployment(deploymentId, nowMs);
  if (desiredReplicas(deployment, nowMs) < deployment.replicas) await reconcileNow();
  return true;
}
