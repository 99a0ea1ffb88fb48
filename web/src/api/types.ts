/**
 * Shapes of the HTTP answers the dashboard reads (docs/api.md). Only the fields the pages use are listed;
 * the server may send more.
 */

export interface ListResponse<T> {
  object: 'list';
  data: T[];
}

export interface Site {
  id: string;
  name: string;
  region: string | null;
  createdAtMs: number;
}

export interface Device {
  nodeId: string;
  index: number;
  vendor: string;
  kind: string;
  name: string;
  memoryBytes: number;
  hardwareId: string | null;
}

/** Cordoned: nothing new is placed on the node; draining: its instances move to other nodes too. */
export type NodeMaintenance = 'cordoned' | 'draining';

export interface FleetNode {
  id: string;
  siteId: string;
  name: string;
  address: string;
  status: 'up' | 'down';
  /** Why it is down (null while up): its worker shut down, it fell silent, or it was revoked. */
  downReason: 'left' | 'no_heartbeat' | 'revoked' | null;
  maintenance: NodeMaintenance | null;
  lastHeartbeatAtMs: number | null;
  labels: Record<string, string>;
  devices: Device[];
}

export type DeploymentStatus = 'pending' | 'running' | 'degraded' | 'failed' | 'deleting';

export interface Deployment {
  id: string;
  name: string;
  modelRef: string;
  quant: string | null;
  engine: string | null;
  replicas: number;
  minReplicas: number;
  /** Context tokens per stream; null: the server's default. */
  contextTokens: number | null;
  siteConstraints: string[];
  /** Goes up with every change of what it runs (a rolling update replaces older instances). */
  revision: number;
  status: DeploymentStatus;
  statusReason: string | null;
  lastRequestAtMs: number | null;
  createdAtMs: number;
}

export type InstanceState =
  'pending' | 'scheduled' | 'downloading' | 'starting' | 'running' | 'failed' | 'stopping' | 'stopped';

export interface DeviceAllocation {
  deviceIndex: number;
  memoryBytes: number;
  nodeId?: string;
}

export interface Instance {
  id: string;
  deploymentId: string;
  nodeId: string | null;
  state: InstanceState;
  engine: string;
  port: number | null;
  allocations: DeviceAllocation[];
  restarts: number;
  lastError: string | null;
  downloadedBytes: number | null;
  downloadTotalBytes: number | null;
  /** The deployment revision it was placed for; older than its deployment's: being replaced. */
  revision: number;
  updatedAtMs: number;
}

export interface ApiKey {
  id: string;
  name: string;
  role: 'admin' | 'inference' | 'gateway' | 'metrics';
  models: string[] | null;
  rpm: number | null;
  tpm: number | null;
  tokenBudget: number | null;
  region: string | null;
  tokensUsed: number;
  createdAtMs: number;
  revokedAtMs: number | null;
  lastUsedAtMs: number | null;
}

/** `POST /api/v1/keys`: the key with its secret, shown once. */
export interface CreatedKey extends ApiKey {
  key: string;
  /** Accepted but probably a mistake: an allowed model nothing serves yet. */
  warnings?: string[];
}

/** `/api/v1/endpoints`: an OpenAI-compatible server run outside EdgeFleet; its upstream key is never shown. */
export interface Endpoint {
  id: string;
  model: string;
  url: string;
  site: string;
  hasApiKey: boolean;
  /** The name sent upstream as `model`, when it differs from `model`. */
  upstreamModel: string | null;
  health: 'unknown' | 'healthy' | 'unhealthy';
  lastCheckAtMs: number | null;
  lastError: string | null;
  createdAtMs: number;
}

export interface UsageRow {
  key_id: string | null;
  key_name: string | null;
  model: string | null;
  site: string | null;
  gateway: string | null;
  bucket_start: string | null;
  requests: number;
  errors: number;
  prompt_tokens: number;
  completion_tokens: number;
  mean_ttft_ms: number | null;
  mean_duration_ms: number | null;
}

export interface UsageReport {
  object: 'list';
  data: UsageRow[];
}

export interface Catalog {
  object: 'catalog';
  models: Array<{
    id: string;
    name: string | null;
    paramsB: number | null;
    activeParamsB: number | null;
    contextTokens: number | null;
  }>;
  quantizations: Array<{ id: string; name: string | null }>;
  engines: Array<{ id: string; name: string | null }>;
  hardware: Array<{
    id: string;
    name: string | null;
    vendor: string | null;
    kind: string | null;
    memoryBytes: number | null;
    pricePerHourUsd: number | null;
  }>;
}

export interface Estimate {
  model: string;
  quant: string;
  engine: string;
  hardware: string;
  count: number;
  batch: number;
  contextTokens: number;
  fits: boolean;
  reasons: string[];
  memory: {
    weightsBytes: number;
    kvCacheBytes: number;
    computeBytes: number;
    overheadBytes: number;
    perDeviceBytes: number;
    usablePerDeviceBytes: number;
    hostBytes: number;
  };
  decode: { tokensPerSecondPerStream: number; tokensPerSecond: number };
  prefill: { tokensPerSecond: number };
  timeToFirstTokenMs: number;
  timePerOutputTokenMs: number;
  maxConcurrency: number;
  costPerAnswerUsd: number | null;
  costPerMillionOutputTokensUsd: number | null;
}

export interface Recommendation {
  model: string;
  paramsB: number;
  quant: string;
  engine: string;
  devicesPerInstance: number;
  replicas: number;
  meetsSlo: boolean;
  streamsPerInstance: number;
  totalStreams: number;
  decodeTokensPerSecondPerStream: number;
  totalDecodeTokensPerSecond: number;
  timeToFirstTokenMs: number;
  timePerOutputTokenMs: number;
  perDeviceBytes: number;
  costPerMillionOutputTokensUsd: number | null;
  why: string[];
}

export interface DeploymentPreview {
  object: 'deployment_preview';
  fits: boolean;
  reasons: string[];
  estimate: Estimate | null;
  placements: Array<{
    siteId: string;
    nodeId: string;
    deviceIndexes: number[];
    engine?: string;
    perDeviceBytes?: number;
    /** The scheduler's explanation of the choice. */
    why?: string;
  }>;
}

export interface TrafficPoint {
  t: number;
  requests: number;
  errors: number;
  requestsPerSecond: number;
  tokensPerSecond: number;
  ttftP50Ms: number | null;
  ttftP99Ms: number | null;
  tpotP50Ms: number | null;
  tpotP99Ms: number | null;
}

export interface TrafficSeries {
  site: string;
  model: string;
  points: TrafficPoint[];
}

export interface Traffic {
  object: 'traffic';
  from: number;
  to: number;
  stepS: number;
  series: TrafficSeries[];
}

export interface InstanceLog {
  object: 'instance_log';
  id: string;
  lines: string[];
  updatedAtMs: number | null;
}

export interface ServedModel {
  id: string;
  object: 'model';
  meta?: { status?: string; instances?: number; sites?: string[]; demo?: boolean };
}
