import type { ParsedDevice } from './accelerator-device.js';

/**
 * The query detectAccelerators runs on macOS. `sysctl NAME…` prints "name: value" lines; unknown
 * names make sysctl exit non-zero on some releases, so only long-standing names are asked for.
 */
export const appleSysctlArgs: readonly string[] = [
  'machdep.cpu.brand_string',
  'hw.memsize',
  'hw.ncpu',
  'hw.optional.arm64',
];

/** "hw.memsize: 137438953472" lines → map. Values may themselves contain colons or spaces. */
function sysctlValues(text: string): Map<string, string> {
  const values = new Map<string, string>();
  for (const line of text.split(/\r?\n/)) {
    const at = line.indexOf(':');
    if (at <= 0) continue;
    values.set(line.slice(0, at).trim(), line.slice(at + 1).trim());
  }
  return values;
}

/**
 * Parses `sysctl` output on a Mac into the one Apple-silicon device (unified memory, so memoryBytes is
 * hw.memsize; 0 when the output lacks it). Returns undefined on an Intel Mac (brand "Intel(R) …") or
 * when the text shows no Apple silicon at all; throws when it is not sysctl output.
 */
export function parseAppleSysctl(text: string): ParsedDevice | undefined {
  const values = sysctlValues(text);
  if (values.size === 0) throw new Error('sysctl output has no "name: value" lines');
  const brand = values.get('machdep.cpu.brand_string');
  const arm64 = values.get('hw.optional.arm64') === '1';
  const isApple = brand !== undefined ? brand.startsWith('Apple') : arm64;
  if (!isApple) return undefined;
  const memsize = Number(values.get('hw.memsize') ?? Number.NaN);
  return {
    vendor: 'apple',
    kind: 'apple',
    index: 0,
    // Without the brand string (e.g. a `sysctl hw` capture) the chip generation is unknown.
    name: brand ?? 'Apple silicon',
    memoryBytes: Number.isFinite(memsize) ? memsize : 0,
  };
}
