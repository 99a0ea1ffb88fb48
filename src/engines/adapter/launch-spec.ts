import { z } from 'zod';
import { EdgeFleetError } from '../../spec/edgefleet-error.js';

const positiveInt = z.number().int().positive();

/** Where this process sits in a model spread over several servers (one process per node). */
export const multiNodeSchema = z.strictObject({
  /** Number of nodes the model spans. */
  nodeCount: z.number().int().min(2),
  /** This node's rank, 0 = head (serves the OpenAI API). */
  nodeRank: z.number().int().min(0),
  /** The head node's address and rendezvous port, reachable from every node. */
  masterAddr: z.string().min(1),
  masterPort: z.number().int().min(1).max(65535),
});
export type MultiNode = z.infer<typeof multiNodeSchema>;

/**
 * What the worker knows about one instance to launch: the engine-neutral input of `EngineAdapter.launch`.
 * Parallel sizes are totals across all nodes (TP 16 on 2 × 8 GPUs is tensorParallelSize 16, nodeCount 2).
 */
export const engineLaunchSpecSchema = z
  .strictObject({
    /** A local file or directory, or a Hugging Face id such as `deepseek-ai/DeepSeek-R1`. */
    model: z.string().min(1),
    /** The name clients put in `model`. */
    servedModelName: z.string().min(1),
    host: z.string().min(1).default('127.0.0.1'),
    port: z.number().int().min(1).max(65535),
    /** Context tokens (per sequence). */
    contextLength: positiveInt.optional(),
    tensorParallelSize: positiveInt.default(1),
    pipelineParallelSize: positiveInt.default(1),
    multiNode: multiNodeSchema.optional(),
    /** Share of each device's memory the engine may take (weights + KV cache), 0–1. */
    gpuMemoryFraction: z.number().gt(0).max(1).optional(),
    /** Engine-specific quantization method (`fp8`, `awq`, `ascend`…); GGUF carries its own. */
    quantization: z.string().min(1).optional(),
    /** The accelerator runtime, which picks the device-visibility variable. */
    accelerator: z.enum(['nvidia', 'amd', 'hygon', 'huawei', 'apple', 'cpu']).optional(),
    /** Local device indices to expose (CUDA/HIP/ASCEND_RT_VISIBLE_DEVICES). Empty: all. */
    deviceIndices: z.array(z.number().int().min(0)).default([]),
    /** llama.cpp: CPU threads and parallel slots; layers to offload to the GPU. */
    threads: positiveInt.optional(),
    parallelSlots: positiveInt.optional(),
    gpuLayers: z.number().int().min(0).optional(),
    /** Overrides the engine's executable (a venv's `vllm`, a built `llama-server`, `python3.11`…). */
    executable: z.string().min(1).optional(),
    /** Extra environment passed through unchanged. */
    env: z.record(z.string(), z.string()).default({}),
    /**
     * The bearer secret the engine must require on its API (the instance's engine key): llama-server
     * gets `LLAMA_API_KEY`, vLLM `VLLM_API_KEY`, SGLang `--api-key`; MindIE has no such option.
     */
    apiKey: z.string().min(1).optional(),
  })
  .refine((s) => !s.multiNode || s.multiNode.nodeRank < s.multiNode.nodeCount, {
    message: 'multiNode.nodeRank must be below multiNode.nodeCount',
    path: ['multiNode', 'nodeRank'],
  });

export type EngineLaunchSpec = z.output<typeof engineLaunchSpecSchema>;
export type EngineLaunchInput = z.input<typeof engineLaunchSpecSchema>;

/** Validates a launch input; errors become `invalid_argument` with the first problem's path. */
export function parseLaunchSpec(input: unknown): EngineLaunchSpec {
  const result = engineLaunchSpecSchema.safeParse(input);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const path = issue?.path.join('.') ?? '';
  throw new EdgeFleetError(
    'invalid_argument',
    `invalid engine launch spec: ${path} ${issue?.message ?? ''}`.trim(),
    {
      param: path || null,
    },
  );
}

/** Devices visible to this node's process: the explicit list, else 0..n-1 for the per-node share of TP × PP. */
export function localDeviceCount(spec: EngineLaunchSpec): number {
  if (spec.deviceIndices.length > 0) return spec.deviceIndices.length;
  const total = spec.tensorParallelSize * spec.pipelineParallelSize;
  return Math.max(1, Math.ceil(total / (spec.multiNode?.nodeCount ?? 1)));
}
