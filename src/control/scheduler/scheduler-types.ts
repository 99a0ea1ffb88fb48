/**
 * What the scheduler reads and returns. The input types are narrow on purpose: the Store's records
 * (StoredNode, StoredDevice, Instance) satisfy them, and tests can write them by hand.
 */
import type { ModelSpec } from '../../catalog/models/model-spec.js';
import type { DeviceAllocation, InstanceState, NodeStatus } from '../../store/store-types.js';

export type ScheduleStrategy = 'spread' | 'binpack';

/** One accelerator (or CPU) of a node; StoredDevice satisfies it. */
export interface SchedulerDevice {
  index: number;
  vendor: string;
  kind: string;
  name: string;
  memoryBytes: number;
  /** The planner's hardware id; null/undefined: judged by its memory only. */
  hardwareId?: string | null;
}

export interface SchedulerNode {
  id: string;
  siteId: string;
  status: NodeStatus;
  /** false: cordoned or draining, nothing new is placed on it (what runs there still counts). Default true. */
  schedulable?: boolean;
  devices: readonly SchedulerDevice[];
  /** Host RAM for offloaded MoE experts; default: the memory of the node's cpu devices, else 0. */
  hostMemoryBytes?: number;
  /** Model refs (catalog ids, file names) already in the node's model cache. */
  cachedModels?: readonly string[];
}

export interface SchedulerDeployment {
  id: string;
  /** A catalog model id or a ready model spec (e.g. read from a GGUF header). */
  model: string | ModelSpec;
  /** null/undefined: the model's native dtype (bf16, f16 or fp8). */
  quant?: string | null;
  /** null/undefined: the first engine (in preference order) that runs on the hardware and quant and fits. */
  engine?: string | null;
  replicas: number;
  /** Allowed site ids; empty/undefined means anywhere. */
  siteConstraints?: readonly string[];
  /** spread (default): across sites and nodes; binpack: fill the fullest node that still fits. */
  strategy?: ScheduleStrategy;
  contextTokens?: number;
  /** Concurrent streams the KV cache is sized for (default 1). */
  batch?: number;
  /** Exact weight bytes when known (a GGUF file's tensor data). */
  weightsBytes?: number;
}

/** An instance the store already holds; Instance satisfies it. */
export interface SchedulerInstance {
  deploymentId: string;
  nodeId: string | null;
  state: InstanceState;
  allocations: readonly DeviceAllocation[];
  /** Host memory held for offloaded experts (not in the Store's Instance yet). */
  hostBytes?: number;
}

export interface ScheduleInput {
  deployments: readonly SchedulerDeployment[];
  nodes: readonly SchedulerNode[];
  instances: readonly SchedulerInstance[];
  /** Context per stream when a deployment gives none (default 4096). */
  contextTokens?: number;
}

/** Memory reserved on one device of one node by a placement. */
export interface PlacementAllocation {
  nodeId: string;
  deviceIndex: number;
  memoryBytes: number;
}

export type FitKind = 'single-device' | 'multi-device' | 'multi-node' | 'host-offload';

export interface Placement {
  deploymentId: string;
  /** The node that runs the instance (the head node of a multi-node instance). */
  nodeId: string;
  /** Devices on `nodeId`. */
  deviceIndexes: number[];
  engine: string;
  /** Tensor-parallel size (1 for a single device and for layer-split engines such as llama.cpp). */
  tensorParallel: number;
  /** Devices in the instance, all nodes together. */
  deviceCount: number;
  fit: FitKind;
  /** Every node of the instance with its devices (one entry unless multi-node). */
  nodes: { nodeId: string; deviceIndexes: number[] }[];
  /** The planner's memory per device, reserved on each device of the instance. */
  perDeviceBytes: number;
  /** Host memory for offloaded experts, when the fit is host-offload. */
  hostBytes?: number;
  allocations: PlacementAllocation[];
  /** Hardware the planner was asked about (a catalog id, or `memory-only:<bytes>` when unknown). */
  hardware: string;
  score: number;
  why: string;
}

export interface PendingDeployment {
  deploymentId: string;
  replicasMissing: number;
  reason: string;
}

export interface SchedulePlan {
  placements: Placement[];
  pending: PendingDeployment[];
}

/** Instance states whose memory is still held on the node. */
export const memoryHoldingStates: readonly InstanceState[] = [
  'pending',
  'scheduled',
  'downloading',
  'starting',
  'running',
  'stopping',
];

/** Instance states that count as a replica of the deployment. */
export const replicaStates: readonly InstanceState[] = [
  'pending',
  'scheduled',
  'downloading',
  'starting',
  'running',
];
