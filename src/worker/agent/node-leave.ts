import type { Logger } from '../../telemetry/logger.js';
import { ControlClient } from './control-client.js';

/** How long a worker that shuts down waits for the control plane to take its leave. */
export const leaveTimeoutMs = 3000;

export interface LeaveOptions {
  serverUrl: string;
  controlTls: ConstructorParameters<typeof ControlClient>[2] | undefined;
  credential: string;
  /** The instances whose engines are about to stop: reported `stopping`. */
  instanceIds: string[];
  log: Logger;
}

/**
 * The last heartbeat of a worker that shuts down (`leaving`): the control plane marks the node down at
 * once rather than after its heartbeat timeout, so gateways stop sending to its engines and its instances
 * are placed elsewhere while they finish their answers. Whether the control plane answered, within
 * `leaveTimeoutMs`; a shutdown never waits longer for it.
 */
export async function announceLeave(options: LeaveOptions): Promise<boolean> {
  const { log, instanceIds } = options;
  const client = new ControlClient(options.serverUrl, leaveTimeoutMs, options.controlTls);
  try {
    const instances = instanceIds.map((id) => ({ id, state: 'stopping' as const }));
    await client.heartbeat(options.credential, { instances, leaving: true });
    log.info(
      { engines: instances.length },
      'left the control plane: instances are placed elsewhere while the engines finish their answers',
    );
    return true;
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    log.warn({ reason }, 'could not tell the control plane this node leaves; stopping the engines now');
    return false;
  } finally {
    client.close();
  }
}
