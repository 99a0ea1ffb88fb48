/**
 * The engines' load as workers last reported it in their heartbeats, kept in memory by the control
 * plane for the route table (it changes every few seconds and is worthless after a restart, so it is
 * not stored). Entries older than `maxAgeMs` are dropped when read, and swept at most once per
 * `maxAgeMs` when a load is recorded, so instances that are gone (deleted, replaced, scaled to zero)
 * leave nothing behind.
 */
import type { InstanceLoad } from '../../spec/route-table.js';

export class InstanceLoads {
  private readonly loads = new Map<string, InstanceLoad>();
  private sweptAtMs = -Infinity;

  constructor(private readonly maxAgeMs = 30_000) {}

  record(instanceId: string, load: Omit<InstanceLoad, 'atMs'>, atMs = Date.now()): void {
    this.loads.set(instanceId, { ...load, atMs });
    if (atMs - this.sweptAtMs <= this.maxAgeMs) return;
    this.sweptAtMs = atMs;
    for (const [id, kept] of this.loads) {
      if (atMs - kept.atMs > this.maxAgeMs) this.loads.delete(id);
    }
  }

  get(instanceId: string, nowMs = Date.now()): InstanceLoad | undefined {
    const load = this.loads.get(instanceId);
    if (load && nowMs - load.atMs > this.maxAgeMs) {
      this.loads.delete(instanceId);
      return undefined;
    }
    return load;
  }

  /** Instances with a load kept (for tests and diagnostics). */
  get size(): number {
    return this.loads.size;
  }
}
