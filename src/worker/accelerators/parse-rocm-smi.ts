import { z } from 'zod';
import type { ParsedDevice } from './accelerator-device.js';

/** The query detectAccelerators runs (rocm-smi ships with ROCm up to 6.x and is still on MI300X boxes). */
export const rocmSmiArgs: readonly string[] = [
  '--showproductname',
  '--showmeminfo',
  'vram',
  '--showuse',
  '--showbus',
  '--json',
];

/** rocm-smi --json prints every value as a string; cards are keys "card0", "card1", …, plus "system". */
const cardSchema = z.record(z.string(), z.unknown());
const outputSchema = z.record(z.string(), cardSchema);

/** rocm-smi has spelled some keys with different capitalisation across releases ("Card series"). */
function pick(card: Record<string, unknown>, ...names: string[]): string | undefined {
  const wanted = new Set(names.map((name) => name.toLowerCase()));
  for (const [key, value] of Object.entries(card)) {
    if (
      wanted.has(key.toLowerCase()) &&
      typeof value === 'string' &&
      value !== 'N/A' &&
      value.trim() !== ''
    ) {
      return value.trim();
    }
  }
  return undefined;
}

function integer(value: string | undefined): number | undefined {
  if (value === undefined || !/^\d+(\.\d+)?$/.test(value)) return undefined;
  return Number(value);
}

/**
 * Parses `rocm-smi --showproductname --showmeminfo vram [--showuse] [--showbus] --json`. Memory is
 * in bytes ("VRAM Total Memory (B)"). The name is the marketing "Card Series" ("AMD Instinct MI300X"),
 * falling back to "Device Name". Throws when the text is not JSON of that shape.
 */
export function parseRocmSmi(text: string): ParsedDevice[] {
  // Some versions print warnings before the JSON; start at the first brace.
  const start = text.indexOf('{');
  if (start < 0) throw new Error('rocm-smi output contains no JSON object');
  const parsed = outputSchema.parse(JSON.parse(text.slice(start)));
  const devices: ParsedDevice[] = [];
  for (const [key, card] of Object.entries(parsed)) {
    const cardIndex = /^card(\d+)$/.exec(key)?.[1];
    if (cardIndex === undefined) continue;
    const name = pick(card, 'Card Series', 'Card series', 'Device Name') ?? 'AMD GPU';
    const device: ParsedDevice = {
      vendor: 'amd',
      kind: 'gpu',
      index: Number(cardIndex),
      name,
      memoryBytes: integer(pick(card, 'VRAM Total Memory (B)')) ?? 0,
    };
    const used = integer(pick(card, 'VRAM Total Used Memory (B)'));
    if (used !== undefined) device.memoryUsedBytes = used;
    const utilization = integer(pick(card, 'GPU use (%)'));
    if (utilization !== undefined) device.utilizationPercent = utilization;
    const uuid = pick(card, 'Unique ID');
    if (uuid !== undefined) device.uuid = uuid;
    const busId = pick(card, 'PCI Bus');
    if (busId !== undefined) device.busId = busId;
    devices.push(device);
  }
  return devices.sort((a, b) => a.index - b.index);
}
