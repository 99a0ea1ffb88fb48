/**
 * The tails of the instances' engine logs as workers last sent them with their heartbeats, kept in
 * memory by the control plane (like engine loads: they change all the time and are resent after a
 * restart). Bounded: at most `maxInstances` tails, the least recently updated dropped first.
 */
export interface InstanceLog {
  lines: string[];
  updatedAtMs: number;
}

export class InstanceLogs {
  private readonly logs = new Map<string, InstanceLog>();

  constructor(private readonly maxInstances = 4096) {}

  record(instanceId: string, lines: readonly string[], atMs = Date.now()): void {
    this.logs.delete(instanceId);
    this.logs.set(instanceId, { lines: [...lines], updatedAtMs: atMs });
    while (this.logs.size > this.maxInstances) {
      const oldest = this.logs.keys().next().value;
      if (oldest === undefined) break;
      this.logs.delete(oldest);
    }
  }

  get(instanceId: string): InstanceLog | undefined {
    return this.logs.get(instanceId);
  }
}
