import { setTimeout as delay } from 'node:timers/promises';
import type { Logger } from '../../telemetry/logger.js';
import { ControlClient } from './control-client.js';

/** How long a worker that shuts down waits for the control plane at each step of its leave. */
export const leaveTimeoutMs = 3000;

/** Whether `promise` settled within `ms` (a timer that does not hold the process open). */
async function settledWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  const timer = new AbortController();
  const settled = promise.then(
    () => true,
    () => true,
  );
  const timeout = delay(ms, false, { ref: false, signal: timer.signal }).catch(() => false);
  const result = await Promise.race([settled, timeout]);
  timer.abort();
  return result;
}

/**
 * The last heartbeats of a worker that shuts down (`leaving`): the control plane marks the node down at
 * once rather than after its heartbeat timeout, so gateways stop sending to its engines and its instances
 * are placed elsewhere while they finish their answers; once they stopped, one more says none is left
 * (`edgefleet nodes drain --wait` waits for that). Each step waits at most `leaveTimeoutMs`.
 */
export class NodeLeave {
  private readonly client: ControlClient;

  constructor(
    serverUrl: string,
    tls: ConstructorParameters<typeof ControlClient>[2] | undefined,
    private readonly log: Logger,
  ) {
    this.client = new ControlClient(serverUrl, leaveTimeoutMs, tls);
  }

  /**
   * Says the node leaves, with these instances stopping; whether the control plane answered. A heartbeat
   * still in flight is waited for first: one the control plane handled after the leave would mark the
   * node up again, so when it settles only after the leave, the leave is said once more.
   */
  async announce(
    credential: () => string | null,
    instanceIds: readonly string[],
    heartbeatInFlight: Promise<unknown> | undefined,
  ): Promise<boolean> {
    const settled =
      heartbeatInFlight === undefined || (await settledWithin(heartbeatInFlight, leaveTimeoutMs));
    const instances = instanceIds.map((id) => ({ id, state: 'stopping' as const }));
    let left = await this.send(credential(), instances);
    if (left && !settled && (await settledWithin(heartbeatInFlight, leaveTimeoutMs))) {
      left = await this.send(credential(), instances);
    }
    if (left) {
      this.log.info(
        { engines: instances.length },
        'left the control plane: instances are placed elsewhere while the engines finish their answers',
      );
    }
    return left;
  }

  /** After the engines stopped: says none is left (best effort). */
  async stopped(credential: () => string | null): Promise<void> {
    await this.send(credential(), []);
  }

  close(): void {
    this.client.close();
  }

  private async send(
    credential: string | null,
    instances: { id: string; state: 'stopping' }[],
  ): Promise<boolean> {
    if (credential === null) return false;
    try {
      await this.client.heartbeat(credential, { instances, leaving: true });
      return true;
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      this.log.warn({ reason }, 'could not tell the control plane this node leaves');
      return false;
    }
  }
}
