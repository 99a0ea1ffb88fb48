/**
 * Records the Store keeps. Times are epoch milliseconds (`…AtMs`), sizes are bytes. These are
 * wire-facing (the management API returns most of them) and may later move to src/spec.
 */
import type { ApiKeyRoleName } from '../spec/api-keys.js';
import type { NodeMaintenance } from '../spec/management-api.js';

export interface Site {
  id: string;
  name: string;
  region: string | null;
  createdAtMs: number;
}

export type NodeStatus = 'up' | 'down';

/**
 * Why a node is down: `left`, its worker shut down and said so (a stopped service, a reboot); `no_heartbeat`,
 * it fell silent past the node timeout (killed, crashed, cut off from the control plane); `revoked`.
 */
export const nodeDownReasons = ['left', 'no_heartbeat', 'revoked'] as const;
export type NodeDownReason = (typeof nodeDownReasons)[number];

/**
 * A node taken out of scheduling by its operator: `cordoned`, nothing new is placed on it (what runs there
 * stays); `draining`, its instances also move to other nodes, each retired once its replacement serves.
 */
export type { NodeMaintenance };

export interface StoredNode {
  id: string;
  siteId: string;
  name: string;
  /** Host or host:port the control plane and gateway reach the node's agent at. */
  address: string;
  status: NodeStatus;
  /** Why it is down; null while it is up (and for a node marked down before the reason was kept). */
  downReason: NodeDownReason | null;
  /** Hash of the per-node credential handed out when the join token was exchanged. */
  credentialHash: string;
  lastHeartbeatAtMs: number | null;
  labels: Record<string, string>;
  createdAtMs: number;
  /** A revoked node is never found by its credential again. */
  revokedAtMs: number | null;
  /** null: schedulable. Kept when the worker registers again. */
  maintenance: NodeMaintenance | null;
}

export interface StoredDevice {
  nodeId: string;
  /** Position of the device on its node (0-based, as the vendor tool numbers it). */
  index: number;
  vendor: string;
  /** gpu | npu | cpu | … */
  kind: string;
  name: string;
  memoryBytes: number;
  /** The planner's hardware id when one matched. */
  hardwareId: string | null;
}

export type DeploymentStatus = 'pending' | 'running' | 'degraded' | 'failed' | 'deleting';

export interface Deployment {
  id: string;
  /** What clients put in `model`; unique. */
  name: string;
  modelRef: string;
  quant: string | null;
  engine: string | null;
  replicas: number;
  /**
   * Replicas kept while no request came within `idleTimeoutMs` (0: scale to zero, started again by the
   * next request). Equal to `replicas` for a deployment that never scales down.
   */
  minReplicas: number;
  idleTimeoutMs: number;
  /** When the gateway last routed (or tried to route) a request to it; null before the first. */
  lastRequestAtMs: number | null;
  /** Context tokens per stream its instances run with; null: the control plane's default (`--context`). */
  contextTokens: number | null;
  /** Site ids the deployment may run in; empty means anywhere. */
  siteConstraints: string[];
  /**
   * Bumped (from 1) whenever what its instances run changes (model, quant, engine, context, sites): the
   * reconciler then replaces the instances of older revisions (a rolling update).
   */
  revision: number;
  status: DeploymentStatus;
  /** Why the deployment is in its status (e.g. the planner's reason it fits nowhere). */
  statusReason: string | null;
  createdAtMs: number;
  updatedAtMs: number;
}

export type InstanceState =
  'pending' | 'scheduled' | 'downloading' | 'starting' | 'running' | 'failed' | 'stopping' | 'stopped';

/** Memory the scheduler reserved on one device of the instance's node. */
export interface DeviceAllocation {
  deviceIndex: number;
  memoryBytes: number;
  /** The node of the device when it is not the instance's own (the other nodes of a multi-node instance). */
  nodeId?: string;
}

/** The model an instance runs, as its deployment said when it was placed. */
export interface LaunchSpec {
  modelRef: string;
  quant: string | null;
  /** Null: the control plane's default context. */
  contextTokens: number | null;
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
  /**
   * The bearer secret the instance's engine requires on everything but `/health`: the worker starts the
   * engine with it, gateways send it. Never shown by the management API. Null: an open engine.
   */
  engineKey: string | null;
  /** The deployment revision it was placed for; older than its deployment's: it is being replaced. */
  revision: number;
  /**
   * What it was launched with, from its deployment at placement; kept while a newer revision rolls out.
   * Null for an instance placed before deployments had revisions: it runs what its deployment says.
   */
  launchSpec: LaunchSpec | null;
  /** Bumped on every update; writers pass the version they read (optimistic concurrency). */
  version: number;
  createdAtMs: number;
  updatedAtMs: number;
}

export type ApiKeyRole = ApiKeyRoleName;

export interface ApiKey {
  id: string;
  name: string;
  keyHash: string;
  role: ApiKeyRole;
  /** Deployment names the key may call; null means every model. */
  allowedModels: string[] | null;
  /** Requests per minute; null means unlimited (likewise for the other limits). */
  rpm: number | null;
  /** Tokens (prompt + completion) per minute. */
  tpm: number | null;
  /** Tokens (prompt + completion) over the key's whole life. */
  tokenBudget: number | null;
  /** The region whose gateways the key is meant for (a hint for routing); null means any. */
  region: string | null;
  createdAtMs: number;
  revokedAtMs: number | null;
  /** Updated at most once per gateway cache period, not per request. */
  lastUsedAtMs: number | null;
}

export interface JoinToken {
  id: string;
  tokenHash: string;
  expiresAtMs: number;
  usedAtMs: number | null;
  createdAtMs: number;
}

export type ConsumeJoinTokenResult =
  { ok: true; token: JoinToken } | { ok: false; reason: 'unknown' | 'expired' | 'used' };

/** One metered request in the usage ledger (the gateway's UsageEvent). */
export interface UsageRecord {
  id: string;
  keyId: string;
  model: string;
  promptTokens: number;
  completionTokens: number;
  atMs: number;
  /** The site the request was served in; null when none was reached. */
  siteName: string | null;
  /** The room of the gateway that took the request; null: the control plane's own gateway. */
  gatewaySite: string | null;
  instanceId: string | null;
  /** The gateway route, e.g. `chat.completions`; empty for records from before it was kept. */
  route: string;
  ttftMs: number | null;
  durationMs: number | null;
  /** HTTP status sent to the client. */
  status: number;
  /** `ok`, `broken`, `error` or `aborted`. */
  outcome: string;
  usageEstimated: boolean;
}

export interface UsageSummary {
  keyId: string;
  model: string;
  requests: number;
  promptTokens: number;
  completionTokens: number;
}

export type UsageGroupField = 'key' | 'model' | 'site' | 'gateway';
export type UsageBucket = 'minute' | 'hour' | 'day';

/** One group of the usage ledger; the fields not grouped by are null. */
export interface UsageAggregate {
  keyId: string | null;
  model: string | null;
  siteName: string | null;
  gatewaySite: string | null;
  /** Start of the time bucket (epoch ms, UTC), when grouped by one. */
  bucketStartMs: number | null;
  requests: number;
  /** Requests answered with status ≥ 400 or whose stream broke; a client that left is none. */
  errors: number;
  promptTokens: number;
  completionTokens: number;
  /** Over the requests that have a TTFT (streams); null when none has. */
  meanTtftMs: number | null;
  meanDurationMs: number | null;
}

export type EndpointHealth = 'unknown' | 'healthy' | 'unhealthy';

/** An OpenAI-compatible server a team runs itself, registered so the gateway routes to it. */
export interface Endpoint {
  id: string;
  /** The model name clients use (may also be a deployment's name). */
  model: string;
  /** Base URL without `/v1`. */
  url: string;
  siteId: string;
  /** Sent upstream as a bearer token; never shown by the API. */
  apiKey: string | null;
  /** The name the upstream serves the model under (sent as `model` upstream); null: `model` itself. */
  upstreamModel: string | null;
  health: EndpointHealth;
  lastCheckAtMs: number | null;
  lastError: string | null;
  createdAtMs: number;
}

/** What `trafficBuckets` reads: fixed-width buckets over [fromMs, fromMs + buckets × stepMs). */
export interface TrafficQuery {
  fromMs: number;
  stepMs: number;
  /** Number of buckets. */
  buckets: number;
  siteName?: string | undefined;
  model?: string | undefined;
}

/**
 * One bucket of the usage ledger by arrival time: for one site and model, or (in `fleet`) for all
 * requests the query matched. Percentiles are nearest-rank; null when no request had the timing.
 */
export interface TrafficBucket {
  /** 0-based bucket index: the bucket starts at fromMs + bucket × stepMs. */
  bucket: number;
  /** Null for requests that reached no site; always null in `fleet`. */
  siteName: string | null;
  model: string | null;
  requests: number;
  /** Requests answered with status ≥ 400 or whose stream broke; a client that left is none. */
  errors: number;
  completionTokens: number;
  ttftP50Ms: number | null;
  ttftP99Ms: number | null;
  /** Time per output token: (duration − TTFT) / (completion tokens − 1), over requests with > 1 token. */
  tpotP50Ms: number | null;
  tpotP99Ms: number | null;
}

/** The buckets that had requests, per site and model (`groups`) and for all of them (`fleet`). */
export interface TrafficBuckets {
  groups: TrafficBucket[];
  fleet: TrafficBucket[];
}
