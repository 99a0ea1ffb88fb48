import type { EngineSpec } from '../../catalog/engines/engine-catalog.js';
import type { FleetLedger } from './fleet-ledger.js';
import {
  multiNodeEngines,
  resolveDevice,
  type DeploymentProbe,
  type ResolvedDevice,
} from './planner-probe.js';
import type { FitKind, ScheduleStrategy, SchedulerDevice, SchedulerNode } from './scheduler-types.js';

/** Devices of one node that share a hardware id (and memory size): one tensor-parallel group. */
export interface DeviceGroup {
  node: SchedulerNode;
  resolved: ResolvedDevice;
  devices: SchedulerDevice[];
}

/** One way to run a replica, before scoring. */
export interface Candidate {
  fit: FitKind;
  engine: EngineSpec;
  resolved: ResolvedDevice;
  shards: { node: SchedulerNode; deviceIndexes: number[] }[];
  deviceCount: number;
  perDeviceBytes: number;
  usablePerDeviceBytes: number;
  hostBytes: number;
}

export interface FitContext {
  deploymentId: string;
  probe: DeploymentProbe;
  ledger: FleetLedger;
  strategy: ScheduleStrategy;
  /** Device groups of the eligible nodes (up, in an allowed site), in node-id then device order. */
  groups: readonly DeviceGroup[];
}

/** Splits each node's devices into groups of identical hardware. */
export function deviceGroups(nodes: readonly SchedulerNode[]): DeviceGroup[] {
  const groups: DeviceGroup[] = [];
  for (const node of [...nodes].sort((a, b) => a.id.localeCompare(b.id))) {
    const byKey = new Map<string, DeviceGroup>();
    for (const device of [...node.devices].sort((a, b) => a.index - b.index)) {
      const resolved = resolveDevice(device);
      const group = byKey.get(resolved.groupKey) ?? { node, resolved, devices: [] };
      group.devices.push(device);
      byKey.set(resolved.groupKey, group);
    }
    groups.push(...byKey.values());
  }
  return groups;
}

/** RAM on the node for offloaded experts and CPU-run models. */
export function hostMemoryBytes(node: SchedulerNode): number {
  return (
    node.hostMemoryBytes ??
    node.devices.filter((d) => d.kind === 'cpu').reduce((sum, d) => sum + d.memoryBytes, 0)
  );
}

/** Free bytes of one device for an engine whose usable share is `usable` (CPU devices share host RAM). */
export function freeBytes(
  ledger: FleetLedger,
  group: DeviceGroup,
  deviceIndex: number,
  usable: number,
): number {
  const held = ledger.allocated(group.node.id, deviceIndex);
  const host = group.resolved.hardware.kind === 'cpu' ? ledger.hostAllocated(group.node.id) : 0;
  return usable - held - host;
}

export function hostFreeBytes(ledger: FleetLedger, node: SchedulerNode): number {
  const onCpus = node.devices
    .filter((d) => d.kind === 'cpu')
    .reduce((sum, d) => sum + ledger.allocated(node.id, d.index), 0);
  return hostMemoryBytes(node) - ledger.hostAllocated(node.id) - onCpus;
}

/** Devices of the group with room for `need` bytes, tightest first for binpack, roomiest first for spread. */
function roomyDevices(ctx: FitContext, group: DeviceGroup, need: number, usable: number): number[] {
  const free = group.devices
    .map((d) => ({ index: d.index, free: freeBytes(ctx.ledger, group, d.index, usable) }))
    .filter((d) => d.free >= need);
  const sign = ctx.strategy === 'binpack' ? 1 : -1;
  free.sort((a, b) => sign * (a.free - b.free) || a.index - b.index);
  return free.map((d) => d.index);
}

const powersOfTwo = (max: number, from = 1): number[] => {
  const out: number[] = [];
  for (let n = from; n <= max; n *= 2) out.push(n);
  return out;
};

/** One node: one device (`counts` [1]) or a tensor-parallel/layer-split group, the fewest devices that fit. */
function inNode(ctx: FitContext, fit: FitKind, counts: (g: DeviceGroup) => number[]): Candidate[] {
  const out: Candidate[] = [];
  const offload = fit === 'host-offload';
  for (const group of ctx.groups) {
    const isCpu = group.resolved.hardware.kind === 'cpu';
    if (isCpu && !offload) continue;
    found: for (const engine of ctx.probe.engines) {
      if (offload && !engine.expertOffload && !isCpu) continue;
      for (const count of counts(group)) {
        const probe = ctx.probe.probe(engine, group.resolved.hardware, count);
        if (probe.incompatible.length > 0) continue;
        if (
          offload &&
          !isCpu &&
          (probe.hostBytes === 0 || probe.hostBytes > hostFreeBytes(ctx.ledger, group.node))
        )
          continue;
        if (!offload && probe.hostBytes > 0) continue;
        const devices = roomyDevices(ctx, group, probe.perDeviceBytes, probe.usablePerDeviceBytes);
        if (devices.length < count) continue;
        out.push({
          fit,
          engine,
          resolved: group.resolved,
          shards: [{ node: group.node, deviceIndexes: devices.slice(0, count).sort((a, b) => a - b) }],
          deviceCount: count,
          perDeviceBytes: probe.perDeviceBytes,
          usablePerDeviceBytes: probe.usablePerDeviceBytes,
          hostBytes: offload && !isCpu ? probe.hostBytes : 0,
        });
        break found;
      }
    }
  }
  return out;
}

/** Several nodes of one site, the same number of identical devices on each (multi-node engines only). */
function acrossNodes(ctx: FitContext): Candidate[] {
  const out: Candidate[] = [];
  const bySiteAndHardware = new Map<string, DeviceGroup[]>();
  for (const group of ctx.groups) {
    if (group.resolved.hardware.kind === 'cpu') continue;
    const key = `${group.node.siteId}|${group.resolved.groupKey}`;
    bySiteAndHardware.set(key, [...(bySiteAndHardware.get(key) ?? []), group]);
  }
  for (const groups of bySiteAndHardware.values()) {
    if (groups.length < 2) continue;
    const total = groups.reduce((sum, g) => sum + g.devices.length, 0);
    const first = groups[0];
    if (first === undefined) continue;
    found: for (const engine of ctx.probe.engines) {
      if (!multiNodeEngines.includes(engine.id)) continue;
      for (const count of powersOfTwo(total, 2)) {
        const probe = ctx.probe.probe(engine, first.resolved.hardware, count);
        if (probe.incompatible.length > 0 || probe.hostBytes > 0) continue;
        const roomy = groups.map((g) => ({
          group: g,
          devices: roomyDevices(ctx, g, probe.perDeviceBytes, probe.usablePerDeviceBytes),
        }));
        for (const perNode of powersOfTwo(count / 2).reverse()) {
          const nodesNeeded = count / perNode;
          const usable = roomy.filter((r) => r.devices.length >= perNode);
          if (usable.length < nodesNeeded) continue;
          usable.sort((a, b) => {
            const replicas = (r: typeof a): number =>
              ctx.ledger.replicasOnNode(ctx.deploymentId, r.group.node.id);
            const byReplicas = ctx.strategy === 'spread' ? replicas(a) - replicas(b) : 0;
            return byReplicas || a.group.node.id.localeCompare(b.group.node.id);
          });
          out.push({
            fit: 'multi-node',
            engine,
            resolved: first.resolved,
            shards: usable.slice(0, nodesNeeded).map((r) => ({
              node: r.group.node,
              deviceIndexes: r.devices.slice(0, perNode).sort((a, b) => a - b),
            })),
            deviceCount: count,
            perDeviceBytes: probe.perDeviceBytes,
            usablePerDeviceBytes: probe.usablePerDeviceBytes,
            hostBytes: 0,
          });
          break found;
        }
      }
    }
  }
  return out;
}

/**
 * Candidates of the first fit stage that has any: one device → several devices of one node → several
 * nodes → host offload (MoE experts in RAM, or a model run on the CPU). Empty: it fits nowhere now.
 */
export function fitCandidates(ctx: FitContext): Candidate[] {
  const single = inNode(ctx, 'single-device', () => [1]);
  if (single.length > 0) return single;
  const multi = inNode(ctx, 'multi-device', (g) => powersOfTwo(g.devices.length, 2));
  if (multi.length > 0) return multi;
  const nodes = acrossNodes(ctx);
  if (nodes.length > 0) return nodes;
  return inNode(ctx, 'host-offload', (g) => powersOfTwo(g.devices.length));
}
