/** What a ProcessEngineSupervisor is given: the engine's adapter and launch input, and its timings. */
import type { EngineAdapter } from '../../engines/adapter/engine-adapter.js';
import type { EngineLaunchInput } from '../../engines/adapter/launch-spec.js';
import type { Logger } from '../../telemetry/logger.js';
import type { LivenessOptions } from '../liveness-watch.js';
import type { LogTail } from '../log-tail.js';
import type { BackoffOptions } from './restart-backoff.js';

/** Default wait for an engine's first "ready": vLLM and SGLang load and compile for minutes. */
export const DEFAULT_START_TIMEOUT_MS = 20 * 60_000;

export interface ProcessEngineOptions extends BackoffOptions {
  adapter: EngineAdapter;
  /** The launch input without `port`: the supervisor picks a free one before every start. */
  spec: Omit<EngineLaunchInput, 'port'>;
  /** The instance's working directory: the plan's files are written here and the engine runs here. */
  workDir: string;
  log: Logger;
  /** How long a start may take to become ready before the process is killed and restarted. */
  startTimeoutMs?: number;
  healthPollMs?: number;
  /** Interval of /metrics scrapes while ready. */
  metricsPollMs?: number;
  /** Health checks of the ready engine: one that stops answering is killed and started again. */
  liveness?: LivenessOptions;
  /** SIGTERM, then SIGKILL to the whole process group after this long. */
  stopGraceMs?: number;
  /** Also receives what the engine writes to engine.log, for the heartbeat. */
  logTail?: LogTail;
}
