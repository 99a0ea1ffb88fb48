import { MIB, type ParsedDevice } from './accelerator-device.js';

/**
 * Hygon's hy-smi (a rocm-smi fork shipped in /opt/hyhal/bin). Its default output is a table without
 * names or sizes, so detectAccelerators runs it three times: the table, `--showmemavailable` (MiB per
 * card) and `--showproductname` ("Card Series: K100_AI"). The last two are optional.
 */
export const hySmiTableArgs: readonly string[] = [];
export const hySmiMemoryArgs: readonly string[] = ['--showmemavailable'];
export const hySmiProductArgs: readonly string[] = ['--showproductname'];

/** "HCU[0]          : Card Series:           K100_AI" (older releases print DCU[0] or GPU[0]). */
const keyValuePattern = /^(?:HCU|DCU|GPU)\[(\d+)\]\s*:\s*(.+?)\s*:\s*(.*?)\s*$/;

/** Reads the "XCU[n] : key: value" lines of hy-smi's optional outputs into one map per card. */
function cardValues(texts: readonly string[]): Map<number, Map<string, string>> {
  const cards = new Map<number, Map<string, string>>();
  for (const text of texts) {
    for (const line of text.split(/\r?\n/)) {
      const match = keyValuePattern.exec(line.trim());
      if (match?.[1] === undefined || match[2] === undefined || match[3] === undefined) continue;
      const index = Number(match[1]);
      const values = cards.get(index) ?? new Map<string, string>();
      values.set(match[2].toLowerCase(), match[3]);
      cards.set(index, values);
    }
  }
  return cards;
}

function percent(cell: string | undefined): number | undefined {
  const match = /^(\d+(?:\.\d+)?)%$/.exec(cell ?? '');
  return match?.[1] === undefined ? undefined : Number(match[1]);
}

/**
 * Parses the hy-smi table
 *
 *   HCU     Temp     AvgPwr     Perf     PwrCap     VRAM%      HCU%      Mode
 *   0       59.0C    114.0W     auto     400.0W     91%        0.0%      Normal
 *
 * plus, when given, the `--showmemavailable` and `--showproductname` outputs. Memory comes from
 * "Available memory size (MiB)" (what hy-smi reports as the card's usable VRAM) or a rocm-smi-style
 * "VRAM Total Memory (B)"; used memory is VRAM% of it. Throws when there is no table header.
 */
export function parseHySmi(table: string, extras: readonly string[] = []): ParsedDevice[] {
  const lines = table.split(/\r?\n/).map((line) => line.trim());
  const headerAt = lines.findIndex((line) => /^(?:HCU|DCU)\s+/.test(line));
  const header = lines[headerAt];
  if (header === undefined) throw new Error('hy-smi output has no HCU/DCU table header');
  const columns = header.split(/\s+/);
  const vramColumn = columns.indexOf('VRAM%');
  const utilColumn = columns.findIndex((column) => column === 'HCU%' || column === 'DCU%');
  const cards = cardValues(extras);
  const devices: ParsedDevice[] = [];
  for (const line of lines.slice(headerAt + 1)) {
    if (line.startsWith('=')) break;
    const cells = line.split(/\s+/);
    if (cells[0] === undefined || !/^\d+$/.test(cells[0])) continue;
    const index = Number(cells[0]);
    const values = cards.get(index);
    const availableMib = Number(values?.get('available memory size (mib)') ?? Number.NaN);
    const totalBytes = Number(values?.get('vram total memory (b)') ?? Number.NaN);
    const memoryBytes = Number.isFinite(totalBytes)
      ? totalBytes
      : Number.isFinite(availableMib)
        ? availableMib * MIB
        : 0;
    const vram = percent(cells[vramColumn]);
    const utilization = percent(cells[utilColumn]);
    const device: ParsedDevice = {
      vendor: 'hygon',
      kind: 'gpu',
      index,
      name: values?.get('card series') ?? values?.get('card model') ?? 'Hygon DCU',
      memoryBytes,
    };
    if (vram !== undefined && memoryBytes > 0)
      device.memoryUsedBytes = Math.round((memoryBytes * vram) / 100);
    if (utilization !== undefined) device.utilizationPercent = utilization;
    devices.push(device);
  }
  return devices;
}
