/**
 * The worker protocol under `/api/v1/worker`: a worker exchanges a join token for a node credential
 * (`POST register`), then sends `POST heartbeat` with its instances' states (Bearer node credential) and
 * gets back the instances it should run.
 */
import { z } from 'zod';

export const workerDeviceSchema = z.strictObject({
  index: z.number().int().min(0),
  vendor: z.string().min(1).max(64),
  kind: z.string().min(1).max(32),
  name: z.string().min(1).max(256),
  memoryBytes: z.number().int().min(0),
  hardwareId: z.string().min(1).max(128).nullable().optional(),
});

export const workerCpuSchema = z.strictObject({
  cores: z.number().int().min(1).optional(),
  memoryBytes: z.number().int().min(0),
  model: z.string().max(256).optional(),
});

export const registerRequestSchema = z.strictObject({
  joinToken: z.string().min(1).max(512),
  name: z.string().min(1).max(128),
  site: z.string().min(1).max(128),
  region: z.string().min(1).max(128).optional(),
  /** host or host:port the control plane and gateway reach the worker at. */
  address: z.string().min(1).max(512),
  devices: z.array(workerDeviceSchema).max(256),
  cpu: workerCpuSchema,
  labels: z.record(z.string(), z.string()).optional(),
});
export type RegisterRequest = z.infer<typeof registerRequestSchema>;

export interface RegisterResponse {
  nodeId: string;
  siteId: string;
  /** Shown once; the control plane keeps only its hash. */
  credential: string;
}

export const reportedInstanceStateSchema = z.enum([
  'downloading',
  'starting',
  'running',
  'failed',
  'stopping',
  'stopped',
]);

export const heartbeatRequestSchema = z.strictObject({
  instances: z
    .array(
      z.strictObject({
        id: z.string().min(1).max(128),
        state: reportedInstanceStateSchema,
        port: z.number().int().min(1).max(65535).optional(),
        error: z.string().max(4096).optional(),
        /** Times the worker restarted the engine process since the instance started on this node. */
        restarts: z.number().int().min(0).optional(),
        /** The engine's latest /metrics scrape (external engines), for routing and scheduling. */
        load: z
          .strictObject({
            requestsRunning: z.number().min(0),
            requestsWaiting: z.number().min(0),
            kvCacheUsage: z.number().min(0).max(1).nullable(),
          })
          .optional(),
        downloadProgress: z
          .strictObject({
            downloadedBytes: z.number().int().min(0),
            totalBytes: z.number().int().min(0).optional(),
          })
          .optional(),
        /**
         * The last lines of the instance's engine log (workers send at most 50 lines / 16 KiB, when it
         * changed); the control plane keeps the latest in memory for `GET /api/v1/instances/:id/logs`.
         */
        logTail: z.array(z.string().max(4096)).max(200).optional(),
      }),
    )
    .max(1024),
  /**
   * The worker is shutting down (SIGTERM, Ctrl-C): the control plane marks the node down at once instead
   * of after its heartbeat timeout, so gateways stop sending to its engines and its instances are placed
   * elsewhere while those engines finish the answers in flight. Its answer then lists no instances.
   */
  leaving: z.boolean().optional(),
});
export type HeartbeatRequest = z.infer<typeof heartbeatRequestSchema>;

/** An instance the node should run. */
export interface DesiredInstance {
  id: string;
  deploymentId: string;
  modelRef: string;
  /** What clients put in `model` (the deployment's name). */
  servedName: string;
  engine: string;
  quant?: string;
  deviceIndexes: number[];
  contextTokens: number;
  /** Tensor-parallel size (total over all nodes); default: the number of accelerators allocated here. */
  tensorParallelSize?: number;
  /** Pipeline-parallel size (total over all nodes); default 1. */
  pipelineParallelSize?: number;
  /** Engine-specific quantization method (vLLM `--quantization`); default: derived from `quant`. */
  quantization?: string;
  /** Set when one instance spans several nodes: this node's place in the group. */
  multiNode?: {
    nodeCount: number;
    /** 0 = head (serves the API). */
    nodeRank: number;
    masterAddr: string;
    masterPort: number;
  };
  /**
   * The bearer secret the engine must require on everything but `/health` (gateways send it). Absent
   * for instances placed before engine keys existed: their engines run open.
   */
  engineKey?: string;
}

export interface HeartbeatResponse {
  nodeId: string;
  instances: DesiredInstance[];
}
