import { stat } from 'node:fs/promises';
import { isAbsolute } from 'node:path';
import type { DesiredInstance } from '../../spec/worker-protocol.js';
import type { Logger } from '../../telemetry/logger.js';
import { EngineSupervisor, type EngineState } from '../engine-supervisor.js';
import { findCached, pullModel } from '../models/model-cache.js';

/** Engines a worker can launch today: only the embedded llama.cpp engine. */
export const LAUNCHABLE_ENGINES: readonly string[] = ['llama.cpp', 'embedded'];

export type RunnerState = 'downloading' | 'starting' | 'running' | 'failed' | 'stopping' | 'stopped';

/** One instance as the heartbeat reports it. */
export interface InstanceReport {
  id: string;
  state: RunnerState;
  port?: number;
  error?: string;
  downloadProgress?: { downloadedBytes: number; totalBytes?: number };
}

export interface InstanceRunnerOptions {
  instance: DesiredInstance;
  home: string;
  /** Address the engine binds (127.0.0.1 or the advertised host). */
  bindHost: string;
  threads: number;
  parallel: number;
  /** True when the instance was placed on the node's CPU device only: start the engine without a GPU. */
  cpuOnly: boolean;
  log: Logger;
}

/**
 * Makes one desired instance real: resolves its model (a local GGUF path, or `hf:`/https pulled into the
 * cache with progress), then runs the embedded engine under an EngineSupervisor, and reports its state.
 */
export class InstanceRunner {
  private stateValue: RunnerState = 'downloading';
  private error: string | undefined;
  private progress: InstanceReport['downloadProgress'];
  private supervisor: EngineSupervisor | undefined;
  private readonly abort = new AbortController();
  private stopped = false;

  constructor(private readonly options: InstanceRunnerOptions) {}

  get id(): string {
    return this.options.instance.id;
  }

  /** Begins the work in the background; failures end in the `failed` state, never a rejection. */
  start(): void {
    void this.run().catch((error: unknown) =>
      this.fail(error instanceof Error ? error.message : String(error)),
    );
  }

  report(): InstanceReport {
    const port = this.port();
    return {
      id: this.id,
      state: this.stateValue,
      ...(port !== undefined && this.stateValue === 'running' && { port }),
      ...(this.error !== undefined && { error: this.error.slice(0, 4000) }),
      ...(this.progress && { downloadProgress: this.progress }),
    };
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.stateValue = 'stopping';
    this.abort.abort();
    await this.supervisor?.stop();
    this.stateValue = 'stopped';
  }

  private port(): number | undefined {
    const url = this.supervisor?.url;
    if (url === undefined) return undefined;
    const port = Number(new URL(url).port);
    return Number.isInteger(port) && port > 0 ? port : undefined;
  }

  private fail(reason: string): void {
    if (this.stopped) return;
    this.stateValue = 'failed';
    this.error = reason;
    this.options.log.error({ instanceId: this.id, reason }, 'instance failed');
  }

  private async run(): Promise<void> {
    const { instance, log } = this.options;
    if (!LAUNCHABLE_ENGINES.includes(instance.engine)) {
      this.fail(
        `engine "${instance.engine}" is not launched by workers yet; only the embedded llama.cpp engine is`,
      );
      return;
    }
    const modelPath = await this.resolveModel(instance.modelRef);
    if (this.stopped) return;
    this.progress = undefined;
    this.stateValue = 'starting';
    const supervisor = new EngineSupervisor({ engineArgs: this.engineArgs(modelPath), log });
    this.supervisor = supervisor;
    supervisor.on('state', (state) => this.onEngineState(state));
    supervisor.start();
  }

  private onEngineState(state: EngineState): void {
    if (this.stopped) return;
    if (state === 'ready') {
      this.stateValue = 'running';
      this.error = undefined;
    } else if (state === 'starting' || state === 'restarting') {
      this.stateValue = 'starting';
      const reason = this.supervisor?.status().lastExit?.reason;
      if (state === 'restarting' && reason) this.error = `engine exited, restarting: ${reason}`;
    } else if (state === 'failed') {
      this.fail(this.supervisor?.status().lastExit?.reason || 'engine failed');
    }
  }

  private engineArgs(modelPath: string): string[] {
    const { instance, bindHost, threads, parallel, cpuOnly } = this.options;
    return [
      '--model',
      modelPath,
      '--model-id',
      instance.servedName,
      '--host',
      bindHost,
      '--port',
      '0',
      '--threads',
      String(threads),
      '--parallel',
      String(parallel),
      '--context',
      String(instance.contextTokens),
      ...(cpuOnly ? ['--gpu', 'false'] : []),
    ];
  }

  /** An absolute path to an existing file, or an `hf:`/http(s) ref pulled into `<home>/models`. */
  private async resolveModel(ref: string): Promise<string> {
    if (isAbsolute(ref)) {
      const info = await stat(ref).catch(() => undefined);
      if (!info?.isFile()) throw new Error(`model file ${ref} does not exist on this node`);
      return ref;
    }
    if (!/^(hf:|https?:\/\/)/i.test(ref)) {
      throw new Error(
        `model "${ref}" cannot be fetched by the worker yet: deploy an absolute GGUF path, an https URL or an hf: reference`,
      );
    }
    const cached = await findCached(this.options.home, ref);
    if (cached) return cached.path;
    this.stateValue = 'downloading';
    this.progress = { downloadedBytes: 0 };
    const result = await pullModel({
      home: this.options.home,
      ref,
      signal: this.abort.signal,
      logger: this.options.log,
      onProgress: (p) => {
        this.progress = {
          downloadedBytes: p.receivedBytes,
          ...(p.totalBytes !== null && { totalBytes: p.totalBytes }),
        };
      },
    });
    return result.path;
  }
}
