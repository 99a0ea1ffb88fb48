/**
 * Scale to zero, seen from the gateway: while requests for a deployment that scales down when idle are in
 * flight, the control plane is told so (`activate`), which keeps it up or starts it from zero.
 */
import type { RouteModel } from '../spec/route-table.js';
import type { Logger } from '../telemetry/logger.js';

/** The longest interval between two `activate` calls for a deployment while requests for it are in flight. */
const touchEveryMs = 5000;
/** A deployment scaled to zero is activated again (whatever the interval above) at most this often. */
const activateEveryMs = 2000;
/** A deployment started from zero this recently is still taken as starting (its 503s carry `retry-after`). */
const startingForMs = 5 * 60_000;
/** The `retry-after` of a 503 for a deployment starting from zero. */
export const coldRetryAfterS = 5;

export interface Waking {
  /** The deployment is starting from zero (scaled to zero now, or started lately and still without an instance). */
  cold: boolean;
  /** The request ended: no more `activate` calls for it. */
  stop: () => void;
}

/** `wake` for a deployment that does not scale to zero (or a gateway that cannot start one). */
export const notWaking: Waking = { cold: false, stop: () => undefined };

export class DeploymentWaker {
  private readonly touchedAtMs = new Map<string, number>();
  private readonly activatedAtMs = new Map<string, number>();

  constructor(
    private readonly activate: (deploymentId: string) => Promise<void>,
    private readonly log: Logger,
  ) {}

  /**
   * For a request to `model`, a deployment that scales down while idle: calls `activate` now and every
   * `min(5 s, idleTimeoutMs / 4)` while the request is in flight (throttled per deployment, not awaited),
   * so a busy deployment is never scaled down and one scaled to zero is started.
   */
  wake(model: RouteModel): Waking {
    const { activate, log } = this;
    if (model.idleTimeoutMs === undefined) return notWaking;
    const { name, deploymentId: id } = model;
    const everyMs = Math.max(100, Math.min(touchEveryMs, model.idleTimeoutMs / 4));
    const nowMs = Date.now();
    const empty = model.instances.length === 0;
    const zero = empty && model.scaledToZero === true;
    const activated = this.activatedAtMs.get(id);
    const starting = empty && activated !== undefined && nowMs - activated < startingForMs;
    if (zero && (activated === undefined || nowMs - activated >= activateEveryMs)) {
      this.activatedAtMs.set(id, nowMs);
      this.touchedAtMs.delete(id);
      log.info({ model: name, deploymentId: id }, 'starting a deployment scaled to zero');
    }
    const touch = () => {
      const atMs = Date.now();
      const last = this.touchedAtMs.get(id);
      if (last !== undefined && atMs - last < everyMs) return;
      this.touchedAtMs.set(id, atMs);
      activate(id).catch((error: unknown) => {
        log.warn({ err: error, model: name, deploymentId: id }, 'activate failed');
      });
    };
    touch();
    const timer = setInterval(touch, everyMs);
    timer.unref();
    return { cold: zero || starting, stop: () => clearInterval(timer) };
  }
}
