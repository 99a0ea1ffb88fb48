import { MIB, type ParsedDevice } from './accelerator-device.js';

/** `npu-smi info` prints a two-row table per chip; this is the only command the parser needs. */
export const npuSmiArgs: readonly string[] = ['info'];

const busIdPattern = /^[0-9A-Fa-f]{4,8}:[0-9A-Fa-f]{2}:[0-9A-Fa-f]{2}\.[0-7]$/;
const usagePattern = /(\d+)\s*\/\s*(\d+)/g;

interface NameRow {
  npuId: number;
  name: string;
  chipsSeen: number;
}

/** "| 0     910B3   | OK  | 102.8 ... |" → ["0     910B3", "OK", "102.8 ..."]. */
function cellsOf(line: string): string[] | undefined {
  const trimmed = line.trim();
  if (!trimmed.startsWith('|') || !trimmed.endsWith('|')) return undefined;
  return trimmed
    .slice(1, -1)
    .split('|')
    .map((cell) => cell.trim());
}

/**
 * Parses the `npu-smi info` table (Atlas 800 / 800T A2 with 910B, Atlas A3 with two chips per NPU,
 * 310P cards). Each chip becomes one device:
 *
 *   | 0     910B3               | OK            | 102.8       55                0    / 0             |
 *   | 0                         | 0000:C1:00.0  | 0           0    / 0          3338 / 65536         |
 *
 * The first row carries the NPU id and name; the second the chip id (and on A3 the Phy-ID, which is
 * the logical device id), the bus id, AICore %, Memory-Usage(MB) and, on 910-series, HBM-Usage(MB).
 * Memory is the last "used / total" pair with a non-zero total (HBM on 910B, DDR on 310P).
 * Throws when the text has no NPU table header.
 */
export function parseNpuSmi(text: string): ParsedDevice[] {
  if (!/\bNPU\s+Name\b/.test(text)) throw new Error('npu-smi output has no "NPU Name" table header');
  const devices: ParsedDevice[] = [];
  let current: NameRow | undefined;
  for (const line of text.split(/\r?\n/)) {
    const cells = cellsOf(line);
    if (cells === undefined || cells.length < 3) continue;
    const [first = '', second = '', third = ''] = cells;
    if (/^NPU\s+Chip\b/.test(first)) break; // the process table follows the device table
    if (busIdPattern.test(second)) {
      if (current === undefined) continue;
      const ids = first.split(/\s+/).map(Number);
      const phyId = ids.length > 1 ? ids[1] : undefined;
      const pairs = [...third.matchAll(usagePattern)].map((m) => ({
        used: Number(m[1]),
        total: Number(m[2]),
      }));
      const memory = pairs.filter((pair) => pair.total > 0).at(-1);
      const aiCore = /^(\d+(?:\.\d+)?)/.exec(third)?.[1];
      const device: ParsedDevice = {
        vendor: 'huawei',
        kind: 'npu',
        index:
          phyId !== undefined && Number.isInteger(phyId)
            ? phyId
            : current.chipsSeen === 0
              ? current.npuId
              : devices.length,
        name: current.name,
        memoryBytes: (memory?.total ?? 0) * MIB,
        busId: second,
      };
      if (memory !== undefined) device.memoryUsedBytes = memory.used * MIB;
      if (aiCore !== undefined) device.utilizationPercent = Number(aiCore);
      devices.push(device);
      current.chipsSeen += 1;
      continue;
    }
    const nameRow = /^(\d+)\s+(\S.*)$/.exec(first);
    if (nameRow?.[1] !== undefined && nameRow[2] !== undefined && /[A-Za-z]/.test(nameRow[2])) {
      const npuId = Number(nameRow[1]);
      const name = nameRow[2].trim();
      // On A3 each chip repeats the name row with the same NPU id; keep the chip count per NPU.
      current =
        current !== undefined && current.npuId === npuId && current.name === name
          ? current
          : { npuId, name, chipsSeen: 0 };
    }
  }
  return devices;
}
