/**
 * Parses AMD's `amd-smi` (ROCm 6.x/7.x; rocm-smi's successor). Names, sizes and bus ids come from
 * `amd-smi static --asic --bus --vram --json`; used memory and utilisation from the optional
 * `amd-smi metric --usage --mem-usage --json`. Both JSON layouts are read: a top-level list of GPUs
 * (amd-smi before 26.x, ROCm 6.x) and `{"gpu_data": [...]}` (amd-smi 26.x and later, ROCm 7.x).
 */
import type { ParsedDevice } from './accelerator-device.js';

/** The static query detectAccelerators runs; the sections we read and nothing slower (clocks, RAS, caches). */
export const amdSmiStaticArgs: readonly string[] = ['static', '--asic', '--bus', '--vram', '--json'];

/** The optional live query: `usage.gfx_activity` and `mem_usage.{total,used}_vram`. */
export const amdSmiMetricArgs: readonly string[] = ['metric', '--usage', '--mem-usage', '--json'];

type Json = Record<string, unknown>;

/** amd-smi's sizes say "MB" but are MiB (an 8 GiB RX 6600 is 8176 MB); every unit is read as binary. */
const unitBytes: Readonly<Record<string, number>> = {
  B: 1,
  KB: 1024,
  KIB: 1024,
  MB: 1024 ** 2,
  MIB: 1024 ** 2,
  GB: 1024 ** 3,
  GIB: 1024 ** 3,
};

function object(value: unknown): Json | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Json) : undefined;
}

/** A string value, or undefined for absent, empty and "N/A". */
function text(value: unknown): string | undefined {
  if (typeof value !== 'string') return undefined;
  const trimmed = value.trim();
  return trimmed === '' || trimmed.toUpperCase() === 'N/A' ? undefined : trimmed;
}

/** `{"value": 8176, "unit": "MB"}`, `"8176 MB"` or a bare number (in `defaultUnit`) as [number, unit]. */
function quantity(value: unknown, defaultUnit: string): [number, string] | undefined {
  const wrapped = object(value);
  if (wrapped !== undefined) return quantity(wrapped['value'], text(wrapped['unit']) ?? defaultUnit);
  if (typeof value === 'number') return Number.isFinite(value) ? [value, defaultUnit] : undefined;
  const match = /^(\d+(?:\.\d+)?)\s*([A-Za-z%]*)$/.exec(text(value) ?? '');
  if (match === null) return undefined;
  return [Number(match[1]), match[2] || defaultUnit];
}

function bytes(value: unknown): number | undefined {
  const parsed = quantity(value, 'MB');
  if (parsed === undefined) return undefined;
  const scale = unitBytes[parsed[1].toUpperCase()];
  return scale === undefined ? undefined : Math.round(parsed[0] * scale);
}

function percent(value: unknown): number | undefined {
  const parsed = quantity(value, '%');
  return parsed !== undefined && parsed[1] === '%' ? parsed[0] : undefined;
}

/**
 * The JSON document in the output. amd-smi can print warnings first, so this tries each line that
 * opens with `[` or `{` until one parses to the end.
 */
function parseJson(output: string): unknown {
  const starts = [...output.matchAll(/^[ \t]*[[{]/gm)].map((match) => match.index);
  for (const start of starts) {
    try {
      return JSON.parse(output.slice(start));
    } catch {
      // A "[WARNING] ..." line or similar; try the next candidate.
    }
  }
  throw new Error('amd-smi output contains no JSON document');
}

/** The per-GPU objects of either layout; a lone GPU object (as some releases print for one card) too. */
function gpuEntries(document: unknown): Json[] {
  const wrapper = object(document);
  const list = Array.isArray(document)
    ? document
    : wrapper !== undefined && Array.isArray(wrapper['gpu_data'])
      ? wrapper['gpu_data']
      : wrapper !== undefined && 'gpu' in wrapper
        ? [wrapper]
        : undefined;
  if (list === undefined) throw new Error('amd-smi JSON is neither a GPU list nor {"gpu_data": [...]}');
  return list.flatMap((entry) => {
    const gpu = object(entry);
    return gpu === undefined ? [] : [gpu];
  });
}

function gpuIndex(entry: Json, position: number): number {
  const raw = entry['gpu'];
  const index = typeof raw === 'number' ? raw : typeof raw === 'string' ? Number(raw) : NaN;
  return Number.isInteger(index) && index >= 0 ? index : position;
}

interface Metrics {
  totalBytes?: number;
  usedBytes?: number;
  utilizationPercent?: number;
}

/** Live values by GPU index; unreadable metric output is ignored (the static query is what counts). */
function readMetrics(output: string | undefined): Map<number, Metrics> {
  const metrics = new Map<number, Metrics>();
  if (output === undefined || output.trim() === '') return metrics;
  let entries: Json[];
  try {
    entries = gpuEntries(parseJson(output));
  } catch {
    return metrics;
  }
  entries.forEach((entry, position) => {
    const memory = object(entry['mem_usage']);
    const found: Metrics = {};
    const total = bytes(memory?.['total_vram']);
    if (total !== undefined) found.totalBytes = total;
    const used = bytes(memory?.['used_vram']);
    if (used !== undefined) found.usedBytes = used;
    const utilization = percent(object(entry['usage'])?.['gfx_activity']);
    if (utilization !== undefined) found.utilizationPercent = utilization;
    metrics.set(gpuIndex(entry, position), found);
  });
  return metrics;
}

/**
 * Parses `amd-smi static --json` (any subset of sections that includes asic and vram), plus the
 * output of `amd-smi metric --json` when given. The name is `asic.market_name` ("AMD Instinct MI210"),
 * falling back to `board.product_name`; memory is `vram.size` (MiB, see unitBytes), falling back to
 * the metric's `total_vram`. Throws when the static output is not one of amd-smi's JSON layouts.
 */
export function parseAmdSmi(staticOutput: string, metricOutput?: string): ParsedDevice[] {
  const metrics = readMetrics(metricOutput);
  const devices = gpuEntries(parseJson(staticOutput)).map((entry, position): ParsedDevice => {
    const index = gpuIndex(entry, position);
    const live = metrics.get(index) ?? {};
    const name =
      text(object(entry['asic'])?.['market_name']) ??
      text(object(entry['board'])?.['product_name']) ??
      'AMD GPU';
    const device: ParsedDevice = {
      vendor: 'amd',
      kind: 'gpu',
      index,
      name,
      memoryBytes: bytes(object(entry['vram'])?.['size']) ?? live.totalBytes ?? 0,
    };
    if (live.usedBytes !== undefined) device.memoryUsedBytes = live.usedBytes;
    if (live.utilizationPercent !== undefined) device.utilizationPercent = live.utilizationPercent;
    const busId = text(object(entry['bus'])?.['bdf']);
    if (busId !== undefined) device.busId = busId;
    return device;
  });
  return devices.sort((a, b) => a.index - b.index);
}
