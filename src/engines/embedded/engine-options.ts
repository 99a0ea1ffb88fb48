import { availableParallelism } from 'node:os';

/** The environment variable that gives the embedded engine its key (kept out of process lists). */
export const engineKeyEnv = 'EDGEFLEET_ENGINE_KEY';

/** Everything one embedded engine process needs; parsed once from its command line, then frozen. */
export interface EngineOptions {
  modelPath: string;
  /** The id clients put in `model`. */
  modelId: string;
  host: string;
  /** 0 picks a free port; the chosen one is announced on stdout as `EDGEFLEET_ENGINE_LISTENING <port>`. */
  port: number;
  threads: number;
  /** Parallel slots (context sequences); concurrent requests share one batch. */
  parallel: number;
  /** Context tokens per slot (prompt + completion). */
  contextSize: number;
  batchSize: number;
  /**
   * The most prompt tokens one decode step takes while other streams are decoding (chunked prefill), so
   * that a long prompt slows the others' next tokens by one such step at a time. 'auto': `cpuPrefillChunk`
   * on the CPU, where a step of a whole batch of prompt takes seconds; the batch size on a GPU.
   */
  prefillChunk: number | 'auto';
  /** 'auto' uses CUDA/Vulkan/Metal when present, else CPU. */
  gpu: 'auto' | 'cuda' | 'vulkan' | 'metal' | false;
  maxBodyBytes: number;
  /** Requests allowed to wait for a slot before new ones get 429. */
  maxQueue: number;
  /** Extra facts shown in /v1/models under `meta` (e.g. that this is a generated demo model). */
  meta: Record<string, unknown>;
  /**
   * When set, every route but `/health` requires `Authorization: Bearer <apiKey>` (the instance's engine
   * key, from `$EDGEFLEET_ENGINE_KEY`; workers set it, gateways send it).
   */
  apiKey?: string;
}

/**
 * Threads for llama.cpp on this machine. Never llama.cpp's CPU default of max(4, cores), which
 * oversubscribes small machines (decode collapses to ~1 tok/s on 2 cores): one core stays free for the
 * event loop and HTTP, and on larger machines we assume two hardware threads per core.
 */
export function defaultThreads(logicalCpus = availableParallelism()): number {
  if (logicalCpus <= 2) return 1;
  if (logicalCpus <= 4) return logicalCpus - 1;
  return Math.max(2, Math.floor(logicalCpus / 2));
}

/**
 * How long a stopping engine (SIGTERM: its instance retired, scaled down or replaced by a new revision)
 * lets the answers in flight finish, taking no new ones, before it closes their connections. Its
 * supervisor waits this long and a little more before SIGKILL.
 */
export const engineDrainMs = 30_000;

/**
 * The prefill chunk on the CPU ('auto'). On the engine benchmark's 114M model, one thread, a 2,000-token
 * prompt arriving beside a generating stream held that stream's tokens back by 2.2 s at most with whole
 * batches and 0.75 s with 64, for 27 % more time on the prompt (docs/benchmarks.md, "Chunked prefill").
 */
export const cpuPrefillChunk = 64;

export const engineDefaults = {
  host: '127.0.0.1',
  port: 0,
  parallel: 4,
  contextSize: 4096,
  batchSize: 512,
  prefillChunk: 'auto',
  gpu: 'auto',
  maxBodyBytes: 4 * 1024 * 1024,
  maxQueue: 256,
} as const;
