import { spawn, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { fileURLToPath } from 'node:url';
import { writeToStderr, type Logger } from '../telemetry/logger.js';
import { LISTENING_MARKER } from '../engines/embedded/listening-marker.js';
import { engineDrainMs } from '../engines/embedded/engine-options.js';
import { reachableBaseUrl } from '../spec/route-table.js';
import { RestartBackoff } from './process-engine/restart-backoff.js';
import type { LogTail } from './log-tail.js';
import { TailBuffer } from './tail-buffer.js';
import { watchLiveness, type LivenessOptions } from './liveness-watch.js';

export type EngineState = 'starting' | 'ready' | 'restarting' | 'stopped' | 'failed';

export interface EngineExit {
  at: string;
  code: number | null;
  signal: NodeJS.Signals | null;
  /** The engine's last error log line, if it wrote one. */
  reason: string;
}

export interface SupervisorOptions {
  /** Arguments after `edgefleet engine`. */
  engineArgs: string[];
  log: Logger;
  initialBackoffMs?: number;
  maxBackoffMs?: number;
  /** After this long ready, the backoff starts again from the beginning. */
  stableAfterMs?: number;
  healthPollMs?: number;
  /** Health checks of the ready engine: one that stops answering is killed and started again. */
  liveness?: LivenessOptions;
  /** Added to the worker's environment (device pinning such as CUDA_VISIBLE_DEVICES). */
  env?: Record<string, string>;
  /** The address the engine binds (its `--host`); the supervisor reaches it there. Default 127.0.0.1. */
  host?: string;
  /** Also receives the engine's log output (stderr), for the heartbeat. */
  logTail?: LogTail;
}

const entry = fileURLToPath(new URL('../../bin/edgefleet.js', import.meta.url));

/**
 * Runs one embedded engine as a child process and keeps it running: waits for /health to say ready,
 * restarts it with exponential backoff when it dies, and reports why it died. Emits 'state' on changes.
 */
export class EngineSupervisor extends EventEmitter<{ state: [EngineState] }> {
  private child: ChildProcess | undefined;
  private stateValue: EngineState = 'stopped';
  private urlValue: string | undefined;
  private readonly backoff: RestartBackoff;
  private lastExitValue: EngineExit | undefined;
  private stopping = false;
  private restartTimer: NodeJS.Timeout | undefined;
  private readonly tail = new TailBuffer(40);
  /** Why the supervisor killed the running engine (it stopped answering), for its exit's reason. */
  private killedBecause: string | undefined;

  constructor(private readonly options: SupervisorOptions) {
    super();
    this.backoff = new RestartBackoff(options);
  }

  get state(): EngineState {
    return this.stateValue;
  }

  /** Base URL of the engine when it is listening (e.g. http://127.0.0.1:41234). */
  get url(): string | undefined {
    return this.urlValue;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  status() {
    return {
      state: this.stateValue,
      url: this.urlValue,
      pid: this.child?.pid,
      restarts: this.backoff.restarts,
      lastExit: this.lastExitValue,
    };
  }

  start(): void {
    this.stopping = false;
    this.spawnEngine();
  }

  /** Resolves once the engine is ready, or rejects when it is stopped or `timeoutMs` passes. */
  waitUntilReady(timeoutMs: number): Promise<void> {
    if (this.stateValue === 'ready') return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.off('state', onState);
        reject(new Error(`engine not ready after ${timeoutMs} ms (state ${this.stateValue})`));
      }, timeoutMs);
      const onState = (state: EngineState) => {
        if (state !== 'ready' && state !== 'stopped') return;
        clearTimeout(timer);
        this.off('state', onState);
        if (state === 'ready') resolve();
        else reject(new Error('engine stopped'));
      };
      this.on('state', onState);
    });
  }

  /** SIGTERM (the engine drains the answers in flight), then SIGKILL after `timeoutMs`. */
  async stop(timeoutMs = engineDrainMs + 5000): Promise<void> {
    this.stopping = true;
    clearTimeout(this.restartTimer);
    const child = this.child;
    // A child whose spawn failed (no pid; its 'error' not yet emitted) never exits, and Node's kill() on it
    // signals pid 0: this process's whole process group.
    if (child && child.pid !== undefined && child.exitCode === null && child.signalCode === null) {
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      await exited;
      clearTimeout(timer);
    }
    this.setState('stopped');
  }

  private setState(state: EngineState): void {
    if (state === this.stateValue) return;
    this.stateValue = state;
    this.emit('state', state);
  }

  private spawnEngine(): void {
    const { log } = this.options;
    this.urlValue = undefined;
    this.killedBecause = undefined;
    this.setState(this.backoff.restarts === 0 ? 'starting' : 'restarting');
    let child: ChildProcess;
    try {
      child = spawn(process.execPath, [entry, 'engine', ...this.options.engineArgs], {
        stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
        env: { ...process.env, ...this.options.env },
        // Its own process group: Ctrl-C in a terminal signals the whole foreground group, and the
        // engine must hear of it from this supervisor (which drains, then stops it), not at once.
        // It still exits when this process dies: it stops on the IPC channel's 'disconnect'.
        detached: true,
      });
    } catch (error) {
      // spawn throws, rather than emitting 'error', for a bad argument or environment (a NUL byte) and
      // for system errors other than ENOENT/EACCES/EAGAIN/EMFILE/ENFILE (ENOMEM…): a start that failed.
      this.child = undefined;
      return this.restartLater(
        null,
        null,
        `cannot start the engine process: ${error instanceof Error ? error.message : String(error)}`,
      );
    }
    this.child = child;
    log.info({ pid: child.pid }, 'engine process started');
    child.stdout?.setEncoding('utf8').on('data', (text: string) => {
      for (const line of text.split('\n')) {
        const match = line.startsWith(LISTENING_MARKER) ? /(\d+)\s*$/.exec(line) : null;
        if (match) {
          this.urlValue = reachableBaseUrl(this.options.host, Number(match[1]));
          void this.pollHealth(child);
        }
      }
    });
    child.stderr?.setEncoding('utf8').on('data', (text: string) => {
      writeToStderr(text);
      this.tail.push(text);
      this.options.logTail?.push(text);
    });
    child.on('error', (error) => {
      log.error({ err: error }, 'engine process error');
      // A process that never started (EAGAIN, EMFILE…) sends no 'exit': a start that failed.
      if (child.pid === undefined && this.child === child) {
        this.restartLater(null, null, `cannot start the engine process: ${error.message}`);
      }
    });
    child.on('exit', (code, signal) => this.onExit(child, code, signal));
  }

  private async pollHealth(child: ChildProcess): Promise<void> {
    const pollMs = this.options.healthPollMs ?? 100;
    while (this.child === child && child.exitCode === null && this.urlValue) {
      try {
        const response = await fetch(`${this.urlValue}/health`, { signal: AbortSignal.timeout(2000) });
        if (response.ok) {
          this.backoff.markReady();
          this.setState('ready');
          this.options.log.info({ url: this.urlValue, pid: child.pid }, 'engine ready');
          void watchLiveness(
            `${this.urlValue}/health`,
            () =>
              this.child === child && child.exitCode === null && child.signalCode === null && !this.stopping,
            (reason) => {
              this.killedBecause = `${reason}; killed and started again`;
              this.options.log.error({ pid: child.pid, reason }, 'engine stopped answering; killing it');
              child.kill('SIGKILL');
            },
            this.options.liveness,
          );
          return;
        }
      } catch {
        // not answering yet
      }
      await new Promise((resolve) => setTimeout(resolve, pollMs));
    }
  }

  private onExit(child: ChildProcess, code: number | null, signal: NodeJS.Signals | null): void {
    if (this.child !== child) return;
    this.restartLater(code, signal, this.killedBecause ?? this.tail.exitReason(code, signal));
  }

  /** The engine exited or could not be started: report why and start it again after the backoff. */
  private restartLater(code: number | null, signal: NodeJS.Signals | null, reason: string): void {
    const exit: EngineExit = { at: new Date().toISOString(), code, signal, reason };
    this.lastExitValue = exit;
    this.urlValue = undefined;
    if (this.stopping) return;
    const delayMs = this.backoff.nextDelayMs();
    this.options.log.error(
      { ...exit, restartInMs: delayMs, restarts: this.backoff.restarts },
      'engine exited; restarting',
    );
    this.setState('restarting');
    this.restartTimer = setTimeout(() => this.spawnEngine(), delayMs);
  }
}
