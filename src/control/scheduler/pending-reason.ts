import type { DeviceGroup, FitContext } from './fit-candidates.js';
import { freeBytes, hostFreeBytes } from './fit-candidates.js';
import { deviceLabel, formatBytes } from './score-candidate.js';

/** The largest free device of a group for an engine's usable share. */
function largestFree(ctx: FitContext, group: DeviceGroup, usable: number): { bytes: number; label: string } {
  let best = { bytes: -Infinity, label: '' };
  for (const device of group.devices) {
    const bytes = freeBytes(ctx.ledger, group, device.index, usable);
    if (bytes > best.bytes)
      best = { bytes, label: deviceLabel(group.node.id, group.resolved.hardware.kind, device.index) };
  }
  return best;
}

/** The planner's reason for a context longer than the model was trained for, and what to do about it. */
const contextTooLong = /^context \d+ is longer than /;
const contextHint =
  ': give the deployment a shorter context (contextTokens; edgefleet deploy --context N, edgefleet redeploy ID --context N, or edgefleet up --context N)';

/**
 * Why a deployment fits nowhere now, in the planner's terms: no eligible node (none up, or the up ones
 * cordoned or draining); the planner's reasons it
 * cannot run on any device there (engine, quantization, dtype, heads, context); or the memory it needs per
 * device against the largest free device, what each device of the biggest node would need, and the host
 * memory an expert-offloading engine would need against the most free on a node.
 */
export function pendingReason(
  ctx: FitContext,
  eligibleNodes: number,
  siteConstraints: readonly string[],
  unschedulableNodes = 0,
): string {
  if (eligibleNodes === 0) {
    const where = siteConstraints.length > 0 ? ` in the allowed sites (${siteConstraints.join(', ')})` : '';
    return unschedulableNodes > 0
      ? `no node is up and schedulable${where}: ${unschedulableNodes} cordoned or draining`
      : `no node is up${where}`;
  }
  const incompatible = new Set<string>();
  let onDevice: {
    need: number;
    engine: string;
    hardware: string;
    free: { bytes: number; label: string };
  } | null = null;
  let offload: { need: number; host: number; engine: string } | null = null;
  let widest: { group: DeviceGroup; need: number; engine: string } | null = null;
  for (const group of ctx.groups) {
    for (const engine of ctx.probe.engines) {
      const probe = ctx.probe.probe(engine, group.resolved.hardware, 1);
      if (probe.incompatible.length > 0) {
        probe.incompatible.forEach((r) =>
          incompatible.add(contextTooLong.test(r) ? `${r}${contextHint}` : r),
        );
        continue;
      }
      if (probe.hostBytes > 0) {
        if (offload === null || probe.hostBytes < offload.host)
          offload = { need: probe.perDeviceBytes, host: probe.hostBytes, engine: engine.id };
        continue;
      }
      // Report the roomiest device, with the engine that needs the least on it.
      const free = largestFree(ctx, group, probe.usablePerDeviceBytes);
      const better =
        onDevice === null ||
        free.bytes > onDevice.free.bytes ||
        (free.bytes === onDevice.free.bytes && probe.perDeviceBytes < onDevice.need);
      if (better)
        onDevice = {
          need: probe.perDeviceBytes,
          engine: engine.id,
          hardware: group.resolved.hardware.id,
          free,
        };
      const count = group.devices.length;
      if (count > 1 && (widest === null || count > widest.group.devices.length)) {
        const multi = ctx.probe.probe(engine, group.resolved.hardware, count);
        if (multi.incompatible.length === 0)
          widest = { group, need: multi.perDeviceBytes, engine: engine.id };
      }
    }
  }
  const parts: string[] = [];
  if (onDevice !== null) {
    parts.push(
      `needs ${formatBytes(onDevice.need)} per device (${onDevice.engine} on one ${onDevice.hardware}), largest free is ${formatBytes(Math.max(0, onDevice.free.bytes))} on ${onDevice.free.label}`,
    );
  }
  if (widest !== null) {
    parts.push(
      `on all ${widest.group.devices.length} devices of node ${widest.group.node.id} (${widest.engine}) it needs ${formatBytes(widest.need)} each`,
    );
  }
  if (offload !== null) {
    const hostFree = Math.max(0, ...ctx.groups.map((g) => hostFreeBytes(ctx.ledger, g.node)));
    parts.push(
      `with its experts in host memory (${offload.engine}) it needs ${formatBytes(offload.need)} per device and ${formatBytes(offload.host)} of host memory, the most free on a node is ${formatBytes(hostFree)}`,
    );
  }
  const reason =
    parts.join('; ') || [...incompatible].slice(0, 3).join('; ') || 'no device on the eligible nodes';
  return unschedulableNodes > 0
    ? `${reason}; ${unschedulableNodes} cordoned or draining node(s) not considered`
    : reason;
}
