import { MIB, type ParsedDevice } from './accelerator-device.js';

/**
 * The query detectAccelerators runs. `--format=csv` keeps the header line, so the parser maps columns
 * by name and also reads captures made with fewer or reordered fields (any `--query-gpu` subset that
 * includes `name`). Units ("24564 MiB", "0 %") are tolerated, as is `nounits`.
 */
export const nvidiaSmiArgs: readonly string[] = [
  '--query-gpu=index,uuid,name,memory.total,memory.used,utilization.gpu,pci.bus_id,driver_version',
  '--format=csv',
];

/** Values nvidia-smi prints for a field it cannot read. */
const missing = new Set([
  '',
  'n/a',
  '[n/a]',
  '[not supported]',
  '[unknown error]',
  '[insufficient permissions]',
]);

/** "memory.total [MiB]" → "memory.total"; "index" stays "index". */
function columnKey(header: string): string {
  return header
    .replace(/\[[^\]]*\]/g, '')
    .trim()
    .toLowerCase();
}

/** "24564 MiB" → 24564; "0 %" → 0; "[N/A]" → undefined. */
function numberField(raw: string | undefined): number | undefined {
  if (raw === undefined) return undefined;
  const value = raw.trim();
  if (missing.has(value.toLowerCase())) return undefined;
  const match = /^(-?\d+(?:\.\d+)?)/.exec(value);
  return match?.[1] === undefined ? undefined : Number(match[1]);
}

function textField(raw: string | undefined): string | undefined {
  if (raw === undefined) return undefined;
  const value = raw.trim();
  return missing.has(value.toLowerCase()) ? undefined : value;
}

/**
 * Parses `nvidia-smi --query-gpu=... --format=csv[,nounits]` output (with its header line) into
 * devices. Throws when the text has no header naming a `name` column, i.e. is not such output.
 * Memory columns are in MiB.
 */
export function parseNvidiaSmi(text: string): ParsedDevice[] {
  const lines = text
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line !== '');
  const header = lines[0];
  if (header === undefined) return [];
  const keys = header.split(',').map(columnKey);
  if (!keys.includes('name')) {
    throw new Error(`nvidia-smi output has no "name" column in its header: ${header.slice(0, 120)}`);
  }
  const devices: ParsedDevice[] = [];
  for (const [row, line] of lines.slice(1).entries()) {
    const cells = line.split(',');
    if (cells.length !== keys.length) {
      throw new Error(`nvidia-smi row ${row + 1} has ${cells.length} fields, header has ${keys.length}`);
    }
    const field = (key: string): string | undefined => {
      const at = keys.indexOf(key);
      return at < 0 ? undefined : cells[at];
    };
    const name = textField(field('name'));
    if (name === undefined) continue;
    const totalMib = numberField(field('memory.total'));
    const usedMib = numberField(field('memory.used'));
    const utilization = numberField(field('utilization.gpu'));
    const uuid = textField(field('uuid'));
    const busId = textField(field('pci.bus_id'));
    const device: ParsedDevice = {
      vendor: 'nvidia',
      kind: 'gpu',
      index: numberField(field('index')) ?? row,
      name,
      memoryBytes: (totalMib ?? 0) * MIB,
    };
    if (usedMib !== undefined) device.memoryUsedBytes = usedMib * MIB;
    if (utilization !== undefined) device.utilizationPercent = utilization;
    if (uuid !== undefined) device.uuid = uuid;
    if (busId !== undefined) device.busId = busId;
    devices.push(device);
  }
  return devices;
}
