import { spawn, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join, resolve as resolvePath, sep } from 'node:path';
import type { EngineLoad, LaunchPlan } from '../../engines/adapter/engine-adapter.js';
import type { EngineLaunchInput } from '../../engines/adapter/launch-spec.js';
import type { EngineExit, EngineState } from '../engine-supervisor.js';
import { TailBuffer } from '../tail-buffer.js';
import { drainEngine, type DrainOptions, type DrainResult } from './engine-drain.js';
import { EngineLogFile } from './engine-log-file.js';
import { freePortBlock } from './free-ports.js';
import { DEFAULT_START_TIMEOUT_MS, type ProcessEngineOptions } from './process-engine-options.js';
import { RestartBackoff } from './restart-backoff.js';
import { signalGroup } from './signal-group.js';
import { forgetEngine, killStaleEngine, recordEngine } from './stale-engine.js';
import { watchLiveness } from '../liveness-watch.js';
import { reachableBaseUrl } from '../../spec/route-table.js';

/** Ports reserved per engine: MindIE uses port, port + 1 (management) and port + 2 (metrics). */
const PORT_BLOCK = 3;

/**
 * Runs one engine process described by an EngineAdapter's LaunchPlan and keeps it running: writes the
 * plan's files, spawns the command in its own process group with the plan's environment, polls the
 * health endpoint through `adapter.parseHealth` until ready (within a start timeout), scrapes /metrics into
 * an EngineLoad, and restarts it with exponential backoff when it exits — the states and exit reasons of
 * EngineSupervisor. A command that cannot be executed at all ends in `failed`.
 */
export class ProcessEngineSupervisor extends EventEmitter<{ state: [EngineState] }> {
  private child: ChildProcess | undefined;
  private stateValue: EngineState = 'stopped';
  private planValue: LaunchPlan | undefined;
  private lastExitValue: EngineExit | undefined;
  /** Why the supervisor killed the running engine (it stopped answering), for its exit's reason. */
  private killedBecause: string | undefined;
  private loadValue: EngineLoad | undefined;
  private failure: string | undefined;
  private stopping = false;
  /** Draining before a stop: an exit is not restarted. */
  private retiring = false;
  private generation = 0;
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly backoff: RestartBackoff;
  private readonly tail = new TailBuffer(60);
  private logFile: EngineLogFile | undefined;

  constructor(private readonly options: ProcessEngineOptions) {
    super();
    this.backoff = new RestartBackoff(options);
  }

  get state(): EngineState {
    return this.stateValue;
  }

  /** The running plan (command, args, env, port…), once launched. */
  get plan(): LaunchPlan | undefined {
    return this.planValue;
  }

  /** API port while the process runs. */
  get port(): number | undefined {
    return this.child ? this.planValue?.port : undefined;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** The latest load scraped from the engine's /metrics, if any scrape succeeded since it became ready. */
  get load(): EngineLoad | undefined {
    return this.loadValue;
  }

  status() {
    return {
      state: this.stateValue,
      port: this.port,
      pid: this.pid,
      restarts: this.backoff.restarts,
      lastExit: this.lastExitValue,
      load: this.loadValue,
      /** Why the engine is `failed`. */
      error: this.failure,
    };
  }

  start(): void {
    this.stopping = false;
    this.retiring = false;
    void this.launch();
  }

  /** Resolves once the engine is ready; rejects when it stops, fails or `timeoutMs` passes. */
  waitUntilReady(timeoutMs: number): Promise<void> {
    if (this.stateValue === 'ready') return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.off('state', onState);
        reject(new Error(`engine not ready after ${timeoutMs} ms (state ${this.stateValue})`));
      }, timeoutMs);
      const onState = (state: EngineState) => {
        if (state === 'starting' || state === 'restarting') return;
        clearTimeout(timer);
        this.off('state', onState);
        if (state === 'ready') resolve();
        else
          reject(new Error(state === 'failed' ? `engine failed: ${this.failure ?? ''}` : 'engine stopped'));
      };
      this.on('state', onState);
    });
  }

  /**
   * Lets the answers in flight finish before a stop (engine-drain.ts). From now on an exit of the engine
   * is not restarted: a stop follows.
   */
  async drain(options: DrainOptions): Promise<DrainResult> {
    const child = this.child;
    const plan = this.planValue;
    if (!child || !plan || this.stateValue !== 'ready')
      return { end: 'not serving', maxInFlight: 0, inFlight: null };
    this.retiring = true;
    return drainEngine(
      {
        running: () => this.child === child,
        readLoad: plan.openAiBaseUrl === null ? null : (signal) => this.scrape(child, plan, signal),
      },
      options,
    );
  }

  /** SIGTERM to the engine's process group, SIGKILL after the grace period; resolves when it is gone. */
  async stop(graceMs = this.options.stopGraceMs ?? 10_000): Promise<void> {
    this.stopping = true;
    this.generation++;
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    const child = this.child;
    if (child && child.exitCode === null && child.signalCode === null) {
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      signalGroup(child, 'SIGTERM');
      const timer = setTimeout(() => signalGroup(child, 'SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    }
    if (child) signalGroup(child, 'SIGKILL'); // workers the engine forked and left behind
    this.child = undefined;
    this.closeLog();
    await forgetEngine(this.options.workDir).catch(() => undefined);
    if (this.stateValue !== 'failed') this.setState('stopped');
  }

  /**
   * SIGKILL to the engine's process group at once, for a worker that must exit now (a second Ctrl-C):
   * the engine runs in a group of its own, so nothing else would reach it once the worker is gone.
   */
  killNow(): void {
    if (this.child) signalGroup(this.child, 'SIGKILL');
  }

  private setState(state: EngineState): void {
    if (state === this.stateValue) return;
    this.stateValue = state;
    this.emit('state', state);
  }

  private later(ms: number, run: () => void): void {
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      run();
    }, ms);
    this.timers.add(timer);
  }

  private fail(reason: string): void {
    this.failure = reason;
    this.options.log.error({ reason }, 'engine failed');
    this.setState('failed');
  }

  private async launch(): Promise<void> {
    const generation = ++this.generation;
    const { adapter, spec, workDir, log } = this.options;
    this.loadValue = undefined;
    this.setState(this.backoff.restarts === 0 ? 'starting' : 'restarting');
    let plan: LaunchPlan;
    try {
      const host = spec.host ?? '127.0.0.1';
      const port = await freePortBlock(host, PORT_BLOCK, this.planValue?.port);
      plan = adapter.launch({ ...spec, port } as EngineLaunchInput);
      await mkdir(workDir, { recursive: true });
      if (this.backoff.restarts === 0 && (await killStaleEngine(workDir))) {
        log.warn({ workDir }, 'stopped an engine left running by an earlier worker process');
      }
      for (const file of plan.files) {
        const target = resolvePath(workDir, file.path);
        if (!target.startsWith(resolvePath(workDir) + sep))
          throw new Error(`plan file ${file.path} leaves ${workDir}`);
        await mkdir(dirname(target), { recursive: true });
        await writeFile(target, file.content);
      }
    } catch (error) {
      if (generation === this.generation && !this.stopping) this.fail(errorMessage(error));
      return;
    }
    if (generation !== this.generation || this.stopping) return;
    this.planValue = plan;
    this.logFile ??= new EngineLogFile(join(workDir, 'engine.log'), (error) => {
      this.options.log.warn({ err: error, workDir }, 'cannot write the engine log; going on without it');
      this.logFile = undefined; // a new one at the next start
    });
    let child: ChildProcess;
    try {
      child = spawn(plan.command, plan.args, {
        cwd: workDir,
        env: { ...process.env, ...plan.env },
        stdio: ['ignore', 'pipe', 'pipe'],
        detached: true, // its own process group, so stop() reaches the workers it forks
      });
    } catch (error) {
      // spawn throws, rather than emitting 'error', for a bad argument or environment (a NUL byte) and
      // for system errors other than ENOENT/EACCES/EAGAIN/EMFILE/ENFILE (ENOMEM…).
      this.fail(`cannot start ${plan.command}: ${errorMessage(error)}`);
      return;
    }
    this.child = child;
    const onOutput = (text: string) => {
      this.tail.push(text);
      this.logFile?.write(text);
      this.options.logTail?.push(text);
    };
    child.stdout?.setEncoding('utf8').on('data', onOutput);
    child.stderr?.setEncoding('utf8').on('data', onOutput);
    child.on('error', (error: NodeJS.ErrnoException) => {
      if (this.child !== child) return;
      this.child = undefined;
      // ENOENT/EACCES: the command cannot run at all; retrying would not help.
      this.fail(`cannot start ${plan.command}: ${error.message}`);
    });
    child.on('exit', (code, signal) => this.onExit(child, code, signal));
    if (child.pid === undefined) return; // the 'error' event follows
    void recordEngine(workDir, child.pid, plan.command).catch(() => undefined);
    log.info(
      { pid: child.pid, command: plan.command, args: plan.args, port: plan.port },
      'engine process started',
    );
    void this.waitForHealth(child, plan);
  }

  private baseUrl(port: number): string {
    return reachableBaseUrl(this.options.spec.host, port);
  }

  /**
   * A follower rank of a model spread over several nodes (vLLM `--headless`) serves no HTTP: it is up
   * once its process has stayed alive a few health-poll intervals (it joins the head's process group).
   */
  private async waitForFollower(child: ChildProcess, pollMs: number): Promise<void> {
    await new Promise((resolve) => setTimeout(resolve, pollMs * 4));
    if (this.child !== child || child.exitCode !== null || this.stopping) return;
    this.backoff.markReady();
    this.setState('ready');
    this.options.log.info({ pid: child.pid }, 'follower engine up (serves no API)');
  }

  private async waitForHealth(child: ChildProcess, plan: LaunchPlan): Promise<void> {
    const { adapter, log } = this.options;
    const pollMs = this.options.healthPollMs ?? 500;
    const deadline = Date.now() + (this.options.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS);
    const url = `${this.baseUrl(plan.port)}${plan.healthPath}`;
    if (plan.openAiBaseUrl === null) return this.waitForFollower(child, pollMs);
    let last = 'no answer yet';
    while (this.child === child && child.exitCode === null && !this.stopping) {
      try {
        const response = await fetch(url, { signal: AbortSignal.timeout(5000) });
        const health = adapter.parseHealth(response.status, await response.text());
        if (this.child !== child || this.stopping) return;
        if (health.state === 'ready') {
          this.backoff.markReady();
          this.setState('ready');
          log.info({ pid: child.pid, port: plan.port }, 'engine ready');
          this.scheduleScrape(child, plan, 0);
          this.watchLiveness(child, url);
          return;
        }
        last = health.message;
      } catch (error) {
        last = errorMessage(error);
      }
      if (Date.now() > deadline) {
        this.tail.push(
          `\nengine not ready after ${this.options.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS} ms (last health: ${last})\n`,
        );
        log.error({ pid: child.pid, last }, 'engine start timed out; killing it');
        signalGroup(child, 'SIGKILL');
        return;
      }
      await new Promise((resolve) => setTimeout(resolve, pollMs));
    }
  }

  /** Kills the ready engine, with its process group, once it stops answering its health checks. */
  private watchLiveness(child: ChildProcess, url: string): void {
    const { adapter, log } = this.options;
    void watchLiveness(
      url,
      () => this.child === child && child.exitCode === null && !this.stopping,
      (reason) => {
        this.killedBecause = `${reason}; killed and started again`;
        log.error({ pid: child.pid, reason }, 'engine stopped answering; killing it');
        signalGroup(child, 'SIGKILL');
      },
      {
        timeoutMs: 5000,
        ...this.options.liveness,
        healthy: (status, body) => adapter.parseHealth(status, body).state === 'ready',
      },
    );
  }

  private scheduleScrape(child: ChildProcess, plan: LaunchPlan, delayMs: number): void {
    this.later(delayMs, () => {
      void this.scrape(child, plan).finally(() => {
        if (this.child === child && !this.stopping) {
          this.scheduleScrape(child, plan, this.options.metricsPollMs ?? 5000);
        }
      });
    });
  }

  /** One /metrics scrape into `load`; undefined when it failed. */
  private async scrape(
    child: ChildProcess,
    plan: LaunchPlan,
    signal: AbortSignal = AbortSignal.timeout(5000),
  ): Promise<EngineLoad | undefined> {
    try {
      const { apiKey } = this.options.spec;
      const response = await fetch(`${this.baseUrl(plan.metricsPort)}${plan.metricsPath}`, {
        signal,
        // llama-server guards /metrics with its key.
        ...(apiKey !== undefined && { headers: { authorization: `Bearer ${apiKey}` } }),
      });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      const load = this.options.adapter.parseMetrics(await response.text());
      if (this.child === child) this.loadValue = load;
      return load;
    } catch (error) {
      this.options.log.debug({ err: errorMessage(error) }, 'metrics scrape failed');
      return undefined;
    }
  }

  private onExit(child: ChildProcess, code: number | null, signal: NodeJS.Signals | null): void {
    if (this.child !== child) return;
    signalGroup(child, 'SIGKILL'); // forked workers must not outlive their parent (GPU memory)
    const exit: EngineExit = {
      at: new Date().toISOString(),
      code,
      signal,
      reason: this.killedBecause ?? this.tail.exitReason(code, signal),
    };
    this.killedBecause = undefined;
    this.lastExitValue = exit;
    this.child = undefined;
    this.loadValue = undefined;
    if (this.stopping || this.retiring) return;
    const delayMs = this.backoff.nextDelayMs();
    this.options.log.error(
      { ...exit, restartInMs: delayMs, restarts: this.backoff.restarts },
      'engine exited; restarting',
    );
    this.setState('restarting');
    this.later(delayMs, () => void this.launch());
  }

  private closeLog(): void {
    this.logFile?.close();
    this.logFile = undefined;
  }
}

function errorMessage(error: unknown): string {
  if (error instanceof Error) {
    const cause = (error as { cause?: unknown }).cause;
    return cause instanceof Error ? `${error.message}: ${cause.message}` : error.message;
  }
  return String(error);
}
