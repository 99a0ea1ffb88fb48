/**
 * Fleet fixtures for the scheduler's tests and docs: nodes of real catalog hardware, and the planner's own
 * answer for a configuration, so tests assert placements consistent with the planner instead of copying
 * numbers.
 */
import { findEngine } from '../../catalog/engines/engine-catalog.js';
import { findHardware } from '../../catalog/hardware/hardware-catalog.js';
import { estimate } from '../../planner/estimate.js';
import { inputFromIds, usableFraction } from '../../planner/estimate-input.js';
import type { Placement, SchedulerDevice, SchedulerNode } from './scheduler-types.js';

/** `count` devices of a catalog hardware id, with the catalog's memory. */
export function catalogDevices(hardwareId: string, count: number): SchedulerDevice[] {
  const hardware = findHardware(hardwareId);
  return Array.from({ length: count }, (_, index) => ({
    index,
    vendor: hardware.vendor,
    kind: hardware.kind,
    name: hardware.name,
    memoryBytes: hardware.memoryBytes,
    hardwareId: hardware.id,
  }));
}

/** An up node with `count` devices of one hardware id. */
export function fixtureNode(
  id: string,
  siteId: string,
  hardwareId: string,
  count: number,
  extra: Partial<SchedulerNode> = {},
): SchedulerNode {
  return { id, siteId, status: 'up', devices: catalogDevices(hardwareId, count), ...extra };
}

/** What the planner says for `count` devices (4096-token context, batch 1, as the scheduler asks). */
export function plannerSays(
  model: string,
  quant: string,
  engine: string,
  hardware: string,
  count: number,
): { fits: boolean; perDeviceBytes: number; hostBytes: number } {
  const result = estimate(inputFromIds({ model, quant, engine, hardware, count, contextTokens: 4096 }));
  return {
    fits: result.fits,
    perDeviceBytes: result.memory.perDeviceBytes,
    hostBytes: result.memory.hostBytes,
  };
}

/** The fewest devices (a power of two up to `max`) on which the planner says the model fits. */
export function fewestDevicesThatFit(
  model: string,
  quant: string,
  engine: string,
  hardware: string,
  max: number,
): number | null {
  for (let count = 1; count <= max; count *= 2) {
    if (plannerSays(model, quant, engine, hardware, count).fits) return count;
  }
  return null;
}

/** Bytes the placements reserve per `node#device`. */
export function bytesPerDevice(placements: readonly Placement[]): Map<string, number> {
  const sums = new Map<string, number>();
  for (const p of placements) {
    for (const a of p.allocations) {
      const key = `${a.nodeId}#${a.deviceIndex}`;
      sums.set(key, (sums.get(key) ?? 0) + a.memoryBytes);
    }
  }
  return sums;
}

/** What one device of this hardware may hold under this engine (memoryBytes × the engine's usable fraction). */
export function usableBytes(engine: string, hardwareId: string): number {
  const hardware = findHardware(hardwareId);
  return usableFraction(findEngine(engine), hardware) * hardware.memoryBytes;
}
