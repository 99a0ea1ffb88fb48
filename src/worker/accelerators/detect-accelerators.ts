import { readFile } from 'node:fs/promises';
import os from 'node:os';
import { createLogger, type Logger } from '../../telemetry/logger.js';
import type {
  AcceleratorDetection,
  AcceleratorDevice,
  AcceleratorTool,
  CpuInfo,
  ParsedDevice,
  RunCommand,
  ToolReport,
} from './accelerator-device.js';
import { matchHardwareId } from './match-hardware-id.js';
import { amdSmiMetricArgs, amdSmiStaticArgs, parseAmdSmi } from './parse-amd-smi.js';
import { appleSysctlArgs, parseAppleSysctl } from './parse-apple-sysctl.js';
import { hySmiMemoryArgs, hySmiProductArgs, hySmiTableArgs, parseHySmi } from './parse-hy-smi.js';
import { parseLinuxCpu } from './parse-linux-cpu.js';
import { npuSmiArgs, parseNpuSmi } from './parse-npu-smi.js';
import { nvidiaSmiArgs, parseNvidiaSmi } from './parse-nvidia-smi.js';
import { parseRocmSmi, rocmSmiArgs } from './parse-rocm-smi.js';
import { runCommand } from './run-command.js';

export interface DetectAcceleratorsOptions {
  /** Runs a vendor tool; tests inject one that replays captured outputs. Default: execFile, no shell. */
  run?: RunCommand;
  log?: Logger;
  /** Per command. nvidia-smi can take seconds to initialise the driver when persistence mode is off. */
  timeoutMs?: number;
  /** Which probes apply: sysctl on 'darwin', the vendor SMIs elsewhere. Default: process.platform. */
  platform?: NodeJS.Platform;
  /** Reads /proc/cpuinfo and /proc/meminfo; injectable for tests. */
  readText?: (path: string) => Promise<string>;
}

interface Probe {
  tool: AcceleratorTool;
  detect: (call: (args: readonly string[]) => Promise<string>) => Promise<ParsedDevice[]>;
  /** Runs only when this tool is absent or fails, e.g. rocm-smi on a ROCm node without amd-smi. */
  fallback?: Probe;
}

/** A probe failure with the reason to report; 'absent' when the tool is not installed. */
class ProbeError extends Error {
  constructor(
    readonly status: 'absent' | 'failed',
    reason: string,
  ) {
    super(reason);
  }
}

const rocmSmiProbe: Probe = {
  tool: 'rocm-smi',
  detect: async (call) => parseRocmSmi(await call(rocmSmiArgs)),
};

/** AMD: amd-smi (ROCm 6.x/7.x) when it works, else the older rocm-smi, so each card is listed once. */
const amdSmiProbe: Probe = {
  tool: 'amd-smi',
  detect: async (call) => {
    const staticOutput = await call(amdSmiStaticArgs);
    // Used memory and utilisation are extras; without them the cards are still listed.
    const metricOutput = await call(amdSmiMetricArgs).catch(() => '');
    return parseAmdSmi(staticOutput, metricOutput);
  },
  fallback: rocmSmiProbe,
};

const linuxProbes: readonly Probe[] = [
  { tool: 'nvidia-smi', detect: async (call) => parseNvidiaSmi(await call(nvidiaSmiArgs)) },
  amdSmiProbe,
  { tool: 'npu-smi', detect: async (call) => parseNpuSmi(await call(npuSmiArgs)) },
  {
    tool: 'hy-smi',
    detect: async (call) => {
      const table = await call(hySmiTableArgs);
      // Names and sizes come from two optional queries; a release without them still yields devices.
      const optional = (args: readonly string[]): Promise<string> => call(args).catch(() => '');
      const extras = await Promise.all([optional(hySmiMemoryArgs), optional(hySmiProductArgs)]);
      return parseHySmi(table, extras);
    },
  },
];

const darwinProbes: readonly Probe[] = [
  {
    tool: 'sysctl',
    detect: async (call) => {
      const device = parseAppleSysctl(await call(appleSysctlArgs));
      return device === undefined ? [] : [device];
    },
  },
];

function firstLine(text: string): string {
  return text.trim().split(/\r?\n/)[0]?.slice(0, 200) ?? '';
}

/** Runs one tool and returns its stdout, or throws a ProbeError that says why not. */
async function callTool(
  run: RunCommand,
  tool: string,
  args: readonly string[],
  timeoutMs: number,
): Promise<string> {
  let result;
  try {
    result = await run(tool, args, timeoutMs);
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    if (code === 'ENOENT') throw new ProbeError('absent', `${tool} not found on PATH`);
    throw new ProbeError(
      'failed',
      `could not start ${tool}: ${error instanceof Error ? error.message : String(error)}`,
    );
  }
  if (result.timedOut) throw new ProbeError('failed', `timed out after ${timeoutMs} ms`);
  if (result.exitCode !== 0) {
    const detail = firstLine(result.stderr) || firstLine(result.stdout);
    throw new ProbeError(
      'failed',
      `exited with ${result.exitCode ?? 'a signal'}${detail ? `: ${detail}` : ''}`,
    );
  }
  return result.stdout;
}

async function readCpu(
  readText: (path: string) => Promise<string>,
  platform: NodeJS.Platform,
): Promise<CpuInfo> {
  const cores = os.availableParallelism();
  if (platform === 'linux') {
    try {
      const linux = parseLinuxCpu(await readText('/proc/cpuinfo'), await readText('/proc/meminfo'));
      return { model: linux.model, cores, memoryBytes: linux.memoryBytes };
    } catch {
      // Fall through to node:os, which works everywhere.
    }
  }
  return { model: os.cpus()[0]?.model.trim() || 'unknown CPU', cores, memoryBytes: os.totalmem() };
}

/**
 * Finds the node's accelerators by running each vendor tool that applies to this platform, in
 * parallel, and merging what they report. Never throws: a tool that is not installed, exits non-zero,
 * times out or prints something unparseable is reported in `tools` and logged, and the node is then
 * "CPU only" as far as that vendor goes. AMD cards come from amd-smi, or from rocm-smi when amd-smi is
 * absent or fails (both are then reported). Devices carry the planner's hardware id when the name matches.
 */
export async function detectAccelerators(
  options: DetectAcceleratorsOptions = {},
): Promise<AcceleratorDetection> {
  const run = options.run ?? runCommand;
  const log = options.log ?? createLogger('accelerators');
  const timeoutMs = options.timeoutMs ?? 10_000;
  const platform = options.platform ?? process.platform;
  const readText = options.readText ?? ((path: string) => readFile(path, 'utf8'));
  const probes = platform === 'darwin' ? darwinProbes : linuxProbes;

  /** Runs one probe, then its fallback if it did not succeed; reports every tool that was tried. */
  const runProbe = async (probe: Probe): Promise<{ reports: ToolReport[]; devices: ParsedDevice[] }> => {
    try {
      const devices = await probe.detect((args) => callTool(run, probe.tool, args, timeoutMs));
      return { reports: [{ tool: probe.tool, status: 'ok' }], devices };
    } catch (error) {
      const status = error instanceof ProbeError ? error.status : 'failed';
      const reason =
        error instanceof ProbeError
          ? error.message
          : `unparseable output: ${error instanceof Error ? error.message : String(error)}`;
      if (status === 'absent') log.info({ tool: probe.tool, reason }, 'accelerator tool not installed');
      else log.warn({ tool: probe.tool, reason }, 'accelerator tool failed; ignoring its devices');
      const report: ToolReport = { tool: probe.tool, status, reason };
      if (probe.fallback === undefined) return { reports: [report], devices: [] };
      const fallback = await runProbe(probe.fallback);
      return { reports: [report, ...fallback.reports], devices: fallback.devices };
    }
  };

  const outcomes = await Promise.all(probes.map(runProbe));

  const devices: AcceleratorDevice[] = outcomes.flatMap(({ devices: found }) =>
    found.map((device) => {
      const hardwareId = matchHardwareId(device.name);
      return hardwareId === undefined ? { ...device } : { ...device, hardwareId };
    }),
  );
  const cpu = await readCpu(readText, platform);
  if (devices.length === 0) log.info({ cpu: cpu.model, cores: cpu.cores }, 'no accelerators found; CPU only');
  return { devices, cpu, tools: outcomes.flatMap(({ reports }) => reports) };
}
