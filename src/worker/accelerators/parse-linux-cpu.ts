/** What /proc tells us about the host CPU and RAM. */
export interface LinuxCpu {
  model: string;
  /** Logical CPUs listed in /proc/cpuinfo (the machine's, not this process's affinity). */
  logicalCpus: number;
  memoryBytes: number;
}

/** "model name\t: Intel(R) Xeon(R) …" → map of the first processor block's keys, plus a processor count. */
function cpuinfoFields(text: string): { fields: Map<string, string>; processors: number } {
  const fields = new Map<string, string>();
  let processors = 0;
  for (const line of text.split(/\r?\n/)) {
    const at = line.indexOf(':');
    if (at <= 0) continue;
    const key = line.slice(0, at).trim().toLowerCase();
    const value = line.slice(at + 1).trim();
    if (key === 'processor') processors += 1;
    if (!fields.has(key)) fields.set(key, value);
  }
  return { fields, processors };
}

/** "MemTotal:       24683656 kB" → bytes. */
function memTotalBytes(meminfo: string): number {
  const match = /^MemTotal:\s+(\d+)\s*kB/im.exec(meminfo);
  if (match?.[1] === undefined) throw new Error('/proc/meminfo has no MemTotal line');
  return Number(match[1]) * 1024;
}

/**
 * Parses /proc/cpuinfo and /proc/meminfo. The model is "model name" (x86), else "Hardware" or
 * "cpu model" (some ARM and MIPS kernels), else "unknown CPU". Kunpeng/ARM kernels list only
 * "CPU implementer/part" numbers; those are reported as "ARM 0x48 part 0xd01".
 */
export function parseLinuxCpu(cpuinfo: string, meminfo: string): LinuxCpu {
  const { fields, processors } = cpuinfoFields(cpuinfo);
  const implementer = fields.get('cpu implementer');
  const part = fields.get('cpu part');
  const model =
    fields.get('model name') ??
    fields.get('hardware') ??
    fields.get('cpu model') ??
    (implementer !== undefined && part !== undefined ? `ARM ${implementer} part ${part}` : 'unknown CPU');
  return { model, logicalCpus: processors, memoryBytes: memTotalBytes(meminfo) };
}
