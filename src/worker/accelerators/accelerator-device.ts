/**
 * What accelerator detection reports about one node. Shared by every parser in this folder and by
 * `detectAccelerators`, which is the only function the rest of the worker should call.
 */

/** Vendors as the planner's hardware catalog spells them. */
export type AcceleratorVendor = 'nvidia' | 'amd' | 'huawei' | 'hygon' | 'apple' | 'intel' | 'custom';

/** Same kinds as the catalog: a discrete GPU, an NPU, an Apple SoC (unified memory), or the host CPU. */
export type AcceleratorKind = 'gpu' | 'npu' | 'apple' | 'cpu';

/** One device a model can be placed on. */
export interface AcceleratorDevice {
  vendor: AcceleratorVendor;
  kind: AcceleratorKind;
  /** The index the vendor tool (and its *_VISIBLE_DEVICES variable) uses. */
  index: number;
  /** The name exactly as the tool printed it, e.g. "NVIDIA H100 80GB HBM3" or "910B3". */
  name: string;
  /** Total device memory in bytes (unified memory for Apple). 0 when the tool did not say. */
  memoryBytes: number;
  memoryUsedBytes?: number;
  /** The planner catalog id (src/catalog/hardware) when the name matches one, e.g. "h100-sxm". */
  hardwareId?: string;
  uuid?: string;
  busId?: string;
  utilizationPercent?: number;
}

/** The host CPU and its RAM, always reported (the "CPU only" fallback). */
export interface CpuInfo {
  model: string;
  /** Logical CPUs this process may use (os.availableParallelism()). */
  cores: number;
  memoryBytes: number;
}

/** Names of the probes detectAccelerators runs, one per vendor tool. */
export type AcceleratorTool = 'nvidia-smi' | 'amd-smi' | 'rocm-smi' | 'npu-smi' | 'hy-smi' | 'sysctl';

/** What happened to one probe: 'absent' when the tool is not installed, 'failed' with a reason otherwise. */
export interface ToolReport {
  tool: AcceleratorTool;
  status: 'ok' | 'absent' | 'failed';
  reason?: string;
}

export interface AcceleratorDetection {
  devices: AcceleratorDevice[];
  cpu: CpuInfo;
  tools: ToolReport[];
}

/** What a parser returns: devices without the catalog id (detectAccelerators adds it). */
export type ParsedDevice = Omit<AcceleratorDevice, 'hardwareId'>;

/** Result of running one command. A command that could not start at all rejects instead. */
export interface CommandResult {
  exitCode: number | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

/**
 * Runs `cmd args` without a shell and resolves with its output. Rejects with an error whose
 * `code` is 'ENOENT' when the command does not exist. Tests inject one that replays fixtures.
 */
export type RunCommand = (cmd: string, args: readonly string[], timeoutMs: number) => Promise<CommandResult>;

export const MIB = 1024 * 1024;
