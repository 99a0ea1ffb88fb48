import { stat } from 'node:fs/promises';
import { isAbsolute, join } from 'node:path';
import type { EngineAdapter, EngineId, EngineLoad } from '../../engines/adapter/engine-adapter.js';
import { visibleDevicesEnv } from '../../engines/adapter/engine-probes.js';
import type { EngineLaunchInput } from '../../engines/adapter/launch-spec.js';
import { createEngineRegistry } from '../../engines/adapter/engine-registry.js';
import { engineKeyEnv } from '../../engines/embedded/engine-options.js';
import type { DesiredInstance } from '../../spec/worker-protocol.js';
import type { Logger } from '../../telemetry/logger.js';
import { EngineSupervisor, type EngineExit, type EngineState } from '../engine-supervisor.js';
import { LogTail, readableLogLine } from '../log-tail.js';
import { resolveModel } from '../resolve-model.js';
import { findEngineExecutable, type EngineBins } from '../process-engine/engine-executables.js';
import { logDrainEnd, type DrainOptions } from '../process-engine/engine-drain.js';
import { ProcessEngineSupervisor } from '../process-engine/process-engine-supervisor.js';
import {
  adapterIdFor,
  checkpointModelArg,
  engineQuantization,
  ggufModelRef,
  placementOf,
  readsGguf,
  type Accelerator,
  type NodeDevice,
} from './engine-launch-spec.js';

export type RunnerState = 'downloading' | 'starting' | 'running' | 'failed' | 'stopping' | 'stopped';

/** One instance as the heartbeat reports it. */
export interface InstanceReport {
  id: string;
  state: RunnerState;
  port?: number;
  error?: string;
  restarts?: number;
  load?: { requestsRunning: number; requestsWaiting: number; kvCacheUsage: number | null };
  downloadProgress?: { downloadedBytes: number; totalBytes?: number };
  /** The last lines of the engine's log (and the worker's own notes on the instance). */
  logTail?: string[];
}

export interface InstanceRunnerOptions {
  instance: DesiredInstance;
  home: string;
  /** Address the engine binds (127.0.0.1 or the advertised host). */
  bindHost: string;
  threads: number;
  parallel: number;
  /** The embedded engine's `--prefill-chunk` (undefined: not passed, the engine's default). */
  prefillChunk?: number | 'auto';
  /** True when the instance was placed on the node's CPU device only: start the engine without a GPU. */
  cpuOnly: boolean;
  /** The node's detected accelerators (vendor per device index), to pin the engine to its devices. */
  devices?: readonly NodeDevice[];
  /** Executables configured with `--engine-bin`. */
  engineBins?: EngineBins;
  /** Longest wait for an external engine to become ready (vLLM loads for minutes). */
  startTimeoutMs?: number;
  /**
   * Settles when an instance this one replaces on the same devices has stopped (a rolling update in
   * place: the old engine drains its answers first). The model is fetched meanwhile; the engine starts after.
   */
  devicesFree?: Promise<unknown>;
  log: Logger;
}

const registry = createEngineRegistry();

/** The engine process's state, as `edgefleet up`'s /health shows it. */
export interface EngineStatus {
  state: EngineState;
  pid?: number;
  restarts: number;
  lastExit?: EngineExit;
}

type Supervisor =
  | { kind: 'embedded'; supervisor: EngineSupervisor }
  | { kind: 'process'; supervisor: ProcessEngineSupervisor };

/**
 * Makes one desired instance real: picks the engine adapter for `instance.engine`, resolves the model (GGUF
 * engines: a local file, `hf:`/https or a catalog id pulled into the cache with progress; checkpoint engines:
 * a local directory or Hugging Face repo id passed through), then runs the engine — the embedded one under an
 * EngineSupervisor, every other one under a ProcessEngineSupervisor — pinned to its allocated devices.
 */
export class InstanceRunner {
  private stateValue: RunnerState = 'downloading';
  private error: string | undefined;
  private progress: InstanceReport['downloadProgress'];
  private engine: Supervisor | undefined;
  private readonly abort = new AbortController();
  /** Aborted by a stop() that must not wait for a drain (the worker is closing). */
  private readonly drainCut = new AbortController();
  private stopped = false;
  private stopping: Promise<void> | undefined;
  /** The engine's output (pino records made readable) and the worker's notes, for the heartbeat. */
  readonly logTail = new LogTail({ format: readableLogLine });

  constructor(private readonly options: InstanceRunnerOptions) {}

  get id(): string {
    return this.options.instance.id;
  }

  get deploymentId(): string {
    return this.options.instance.deploymentId;
  }

  /** Whether it runs on any of `deviceIndexes` (this node's device indexes). */
  usesAnyOf(deviceIndexes: readonly number[]): boolean {
    return this.options.instance.deviceIndexes.some((i) => deviceIndexes.includes(i));
  }

  /** The engine's state, PID, restarts and last exit; undefined before the engine is started. */
  engineStatus(): EngineStatus | undefined {
    const status = this.engine?.supervisor.status();
    if (!status) return undefined;
    return {
      state: status.state,
      ...(status.pid !== undefined && { pid: status.pid }),
      restarts: status.restarts,
      ...(status.lastExit && { lastExit: status.lastExit }),
    };
  }

  /** Begins the work in the background; failures end in the `failed` state, never a rejection. */
  start(): void {
    void this.run().catch((error: unknown) =>
      this.fail(error instanceof Error ? error.message : String(error)),
    );
  }

  /** What the heartbeat says about this instance; `withLog` adds the log tail. */
  report(withLog = false): InstanceReport {
    const port = this.port();
    const restarts = this.engine?.supervisor.status().restarts;
    const load = this.stateValue === 'running' ? this.load() : undefined;
    return {
      id: this.id,
      state: this.stateValue,
      ...(port !== undefined && this.stateValue === 'running' && { port }),
      ...(this.error !== undefined && { error: this.error.slice(0, 4000) }),
      ...(restarts !== undefined && { restarts }),
      ...(load && {
        load: {
          requestsRunning: load.requestsRunning,
          requestsWaiting: load.requestsWaiting,
          kvCacheUsage: load.kvCacheUsage,
        },
      }),
      ...(this.progress && { downloadProgress: this.progress }),
      ...(withLog && { logTail: this.logTail.lines() }),
    };
  }

  /** A line of the worker's own in the instance's log tail. */
  private note(text: string): void {
    this.logTail.append(`${new Date().toISOString()} [edgefleet worker] ${text}`);
  }

  /** The engine's latest scraped load (external engines), for the heartbeat and tests. */
  load(): EngineLoad | undefined {
    return this.engine?.kind === 'process' ? this.engine.supervisor.load : undefined;
  }

  /** PID of the engine process while it runs. */
  pid(): number | undefined {
    return this.engine?.supervisor.pid;
  }

  /** Kills a process engine at once (see ProcessEngineSupervisor.killNow); an embedded one ends with the worker. */
  killNow(): void {
    if (this.engine?.kind === 'process') this.engine.supervisor.killNow();
  }

  /**
   * Stops the engine; every call resolves when it is stopped (the worker's close waits for a stop in
   * progress). With `drain` (an instance the control plane removed), a process engine first finishes the
   * answers in flight (ProcessEngineSupervisor.drain): llama-server and vLLM abort them on SIGTERM. The
   * embedded engine drains on SIGTERM by itself. A later stop() without `drain` cuts a drain short.
   */
  stop(drain?: Omit<DrainOptions, 'signal'>): Promise<void> {
    if (!drain) this.drainCut.abort();
    this.stopping ??= (async () => {
      // A flag of its own: `stopping` is assigned only once this function's synchronous part (abort()
      // and its listeners) has run, and those must already see the runner as stopped.
      this.stopped = true;
      this.stateValue = 'stopping';
      this.abort.abort();
      if (drain && this.engine?.kind === 'process') await this.drain(this.engine.supervisor, drain);
      await this.engine?.supervisor.stop();
      this.stateValue = 'stopped';
    })();
    return this.stopping;
  }

  private async drain(supervisor: ProcessEngineSupervisor, drain: Omit<DrainOptions, 'signal'>) {
    this.options.log.info('draining the engine before stopping it');
    const startedAt = Date.now();
    const result = await supervisor.drain({ ...drain, signal: this.drainCut.signal });
    logDrainEnd(this.options.log, result, Date.now() - startedAt);
  }

  private port(): number | undefined {
    if (this.engine?.kind === 'process') return this.engine.supervisor.port;
    const url = this.engine?.supervisor.url;
    if (url === undefined) return undefined;
    const port = Number(new URL(url).port);
    return Number.isInteger(port) && port > 0 ? port : undefined;
  }

  private fail(reason: string): void {
    if (this.stopped) return;
    this.stateValue = 'failed';
    this.error = reason;
    this.note(`instance failed: ${reason}`);
    this.options.log.error({ instanceId: this.id, reason }, 'instance failed');
  }

  private placement(): { accelerator: Accelerator; deviceIndices: number[] } {
    const { instance, devices = [], cpuOnly } = this.options;
    return cpuOnly ? { accelerator: 'cpu', deviceIndices: [] } : placementOf(instance.deviceIndexes, devices);
  }

  private async run(): Promise<void> {
    const { instance } = this.options;
    const adapterId = adapterIdFor(instance.engine);
    if (adapterId === undefined) {
      this.fail(
        `engine "${instance.engine}" cannot be launched by workers (supported: llama.cpp, llama-server, vllm, sglang, mindie, vllm-ascend)`,
      );
      return;
    }
    const adapter = registry.get(adapterId);
    let executable: string | undefined;
    if (adapterId !== 'embedded') {
      const defaultCommand = adapter.launch(this.launchInput(adapterId, 'model', 1)).command;
      const found = await findEngineExecutable(adapterId, defaultCommand, this.options.engineBins ?? {});
      if (!found.ok) {
        this.fail(found.reason);
        return;
      }
      executable = found.path;
    }
    const model = readsGguf(adapterId)
      ? await this.resolveGguf(instance)
      : await checkpointModelArg(instance.modelRef);
    if (this.stopped) return;
    this.progress = undefined;
    this.stateValue = 'starting';
    if (this.options.devicesFree) {
      this.note('waiting for the instance it replaces on these devices to stop');
      await this.options.devicesFree;
      if (this.stopped) return;
    }
    this.note(`starting engine ${instance.engine} with model ${model}`);
    if (adapterId === 'embedded') this.startEmbedded(model);
    else this.startProcess(adapter, adapterId, model, executable);
  }

  /** The adapter input for this instance (the supervisor adds the port). */
  private launchInput(adapterId: EngineId, model: string, port: number): EngineLaunchInput {
    const { instance, bindHost, threads, parallel } = this.options;
    const { accelerator, deviceIndices } = this.placement();
    const quantization = engineQuantization(instance);
    const llama = readsGguf(adapterId);
    return {
      model,
      servedModelName: instance.servedName,
      host: bindHost,
      port,
      contextLength: instance.contextTokens,
      accelerator,
      deviceIndices,
      tensorParallelSize: llama ? 1 : (instance.tensorParallelSize ?? Math.max(1, deviceIndices.length)),
      pipelineParallelSize: llama ? 1 : (instance.pipelineParallelSize ?? 1),
      ...(instance.multiNode && !llama && { multiNode: instance.multiNode }),
      ...(quantization !== undefined && !llama && { quantization }),
      ...(llama && { threads, parallelSlots: parallel }),
      ...(instance.engineKey !== undefined && { apiKey: instance.engineKey }),
    };
  }

  private startEmbedded(modelPath: string): void {
    const { log } = this.options;
    const { accelerator, deviceIndices } = this.placement();
    const { engineKey } = this.options.instance;
    const env = {
      ...(accelerator === 'nvidia'
        ? visibleDevicesEnv('CUDA_VISIBLE_DEVICES', deviceIndices)
        : accelerator === 'amd' || accelerator === 'hygon'
          ? visibleDevicesEnv('HIP_VISIBLE_DEVICES', deviceIndices)
          : {}),
      // The engine requires the instance's key on everything but /health (an environment variable keeps
      // it out of the process list).
      ...(engineKey !== undefined && { [engineKeyEnv]: engineKey }),
    };
    const supervisor = new EngineSupervisor({
      engineArgs: this.engineArgs(modelPath),
      env,
      log,
      host: this.options.bindHost,
      logTail: this.logTail,
    });
    this.engine = { kind: 'embedded', supervisor };
    supervisor.on('state', (state) => this.onEngineState(state));
    supervisor.start();
  }

  private startProcess(
    adapter: EngineAdapter,
    adapterId: EngineId,
    model: string,
    executable?: string,
  ): void {
    const { home, log, startTimeoutMs } = this.options;
    const { port: _port, ...spec } = this.launchInput(adapterId, model, 1);
    const supervisor = new ProcessEngineSupervisor({
      adapter,
      spec: { ...spec, ...(executable !== undefined && { executable }) },
      workDir: join(home, 'instances', this.id),
      log,
      logTail: this.logTail,
      ...(startTimeoutMs !== undefined && { startTimeoutMs }),
    });
    this.engine = { kind: 'process', supervisor };
    supervisor.on('state', (state) => this.onEngineState(state));
    supervisor.start();
  }

  private onEngineState(state: EngineState): void {
    if (this.stopped) return;
    const status = this.engine?.supervisor.status();
    if (state === 'ready') {
      this.stateValue = 'running';
      this.error = undefined;
      this.note('engine ready');
    } else if (state === 'starting' || state === 'restarting') {
      this.stateValue = 'starting';
      const reason = status?.lastExit?.reason;
      if (state === 'restarting') this.note(`engine exited, restarting${reason ? `: ${reason}` : ''}`);
      if (state === 'restarting' && reason) this.error = `engine exited, restarting: ${reason}`;
    } else if (state === 'failed') {
      const error = status && 'error' in status ? status.error : undefined;
      this.fail(error || status?.lastExit?.reason || 'engine failed');
    }
  }

  private engineArgs(modelPath: string): string[] {
    const { instance, bindHost, threads, parallel, prefillChunk, cpuOnly } = this.options;
    return [
      ...['--model', modelPath, '--model-id', instance.servedName, '--host', bindHost, '--port', '0'],
      ...['--threads', String(threads), '--parallel', String(parallel)],
      ...['--context', String(instance.contextTokens)],
      ...(prefillChunk !== undefined ? ['--prefill-chunk', String(prefillChunk)] : []),
      ...(cpuOnly ? ['--gpu', 'false'] : []),
    ];
  }

  /**
   * A local GGUF file: an absolute path on this node, or an `hf:`/https reference or catalog id
   * (`deepseek-r1-distill-qwen-1.5b`, with the deployment's quant) pulled into `<home>/models`.
   */
  private async resolveGguf(instance: DesiredInstance): Promise<string> {
    const ref = ggufModelRef(instance);
    if (isAbsolute(ref)) {
      const info = await stat(ref).catch(() => undefined);
      if (!info?.isFile()) throw new Error(`model file ${ref} does not exist on this node`);
    }
    const resolved = await resolveModel({
      home: this.options.home,
      model: ref,
      offline: false,
      log: this.options.log,
      signal: this.abort.signal,
      onProgress: (p) => {
        this.stateValue = 'downloading';
        this.progress = {
          downloadedBytes: p.receivedBytes,
          ...(p.totalBytes !== null && { totalBytes: p.totalBytes }),
        };
      },
    }).catch((error: unknown) => {
      const message = error instanceof Error ? error.message : String(error);
      throw new Error(`model "${ref}" cannot be used on this node: ${message.replace(/^--model /, '')}`);
    });
    return resolved.path;
  }
}
