import type {
  ApiKey,
  ApiKeyRole,
  ConsumeJoinTokenResult,
  Deployment,
  DeploymentStatus,
  DeviceAllocation,
  Endpoint,
  Instance,
  InstanceState,
  JoinToken,
  LaunchSpec,
  NodeDownReason,
  NodeMaintenance,
  NodeStatus,
  Site,
  StoredDevice,
  StoredNode,
  TrafficBuckets,
  TrafficQuery,
  UsageAggregate,
  UsageBucket,
  UsageGroupField,
  UsageRecord,
  UsageSummary,
} from './store-types.js';

export type StoreDialect = 'sqlite' | 'postgres';

/** Fields a caller may omit get defaults: ids are random UUIDs, times are `Date.now()`. */
export interface NewSite {
  id?: string;
  name: string;
  region?: string | null;
}

export interface RegisterNodeInput {
  id?: string;
  siteId: string;
  name: string;
  address: string;
  credentialHash: string;
  labels?: Record<string, string>;
  devices: Omit<StoredDevice, 'nodeId'>[];
  atMs?: number;
}

export interface NewDeployment {
  id?: string;
  name: string;
  modelRef: string;
  quant?: string | null;
  engine?: string | null;
  replicas: number;
  /** Default: `replicas` (never scaled down). */
  minReplicas?: number;
  /** Default: 600000 (10 minutes). */
  idleTimeoutMs?: number;
  /** Default: null (the control plane's `--context`). */
  contextTokens?: number | null;
  siteConstraints?: string[];
  status?: DeploymentStatus;
  statusReason?: string | null;
}

export type DeploymentPatch = Partial<
  Pick<
    Deployment,
    | 'replicas'
    | 'minReplicas'
    | 'idleTimeoutMs'
    | 'status'
    | 'statusReason'
    | 'modelRef'
    | 'quant'
    | 'engine'
    | 'contextTokens'
    | 'siteConstraints'
  >
>;

/** `updateDeployment`'s change of what runs: a new revision (a rolling update). */
export interface NewRevision {
  /** What it ran until now: instances placed before revisions were recorded keep running it. */
  previous: LaunchSpec;
}

export interface NewInstance {
  id?: string;
  deploymentId: string;
  nodeId?: string | null;
  state?: InstanceState;
  engine: string;
  port?: number | null;
  allocations?: DeviceAllocation[];
  engineKey?: string | null;
  /** Default 1. */
  revision?: number;
  launchSpec?: LaunchSpec | null;
}

export type InstancePatch = Partial<
  Pick<
    Instance,
    | 'nodeId'
    | 'state'
    | 'port'
    | 'allocations'
    | 'restarts'
    | 'lastError'
    | 'downloadedBytes'
    | 'downloadTotalBytes'
  >
>;

export interface NewApiKey {
  id?: string;
  name: string;
  keyHash: string;
  role: ApiKeyRole;
  allowedModels?: string[] | null;
  rpm?: number | null;
  tpm?: number | null;
  tokenBudget?: number | null;
  region?: string | null;
}

/** What `updateApiKey` may change: a field left out stays; null removes a limit (every model, any region). */
export type ApiKeyPatch = Partial<
  Pick<ApiKey, 'name' | 'allowedModels' | 'rpm' | 'tpm' | 'tokenBudget' | 'region'>
>;

export interface UsageQuery {
  keyId?: string;
  model?: string;
  /** Inclusive. */
  fromMs: number;
  /** Exclusive. */
  toMs: number;
}

/** A usage record to append: the id and the fields of the full event are optional (older callers). */
export type NewUsageRecord = Pick<
  UsageRecord,
  'keyId' | 'model' | 'promptTokens' | 'completionTokens' | 'atMs'
> &
  Partial<Omit<UsageRecord, 'keyId' | 'model' | 'promptTokens' | 'completionTokens' | 'atMs'>>;

export interface UsageAggregateQuery {
  /** Inclusive. */
  fromMs: number;
  /** Exclusive. */
  toMs: number;
  groupBy: readonly UsageGroupField[];
  bucket?: UsageBucket | undefined;
  /** Only these keys (a name can belong to several: a key revoked and made again). */
  keyIds?: readonly string[] | undefined;
  model?: string | undefined;
  siteName?: string | undefined;
  /** Only requests taken by the gateway of this room. */
  gatewaySite?: string | undefined;
  /** At most this many rows (the first ones in the answer's order). */
  limit?: number | undefined;
}

export interface NewEndpoint {
  id?: string;
  model: string;
  url: string;
  siteId: string;
  apiKey?: string | null;
  upstreamModel?: string | null;
}

export interface EndpointChanges {
  apiKey?: string | null;
  upstreamModel?: string | null;
}

export interface EndpointCheck {
  healthy: boolean;
  atMs?: number;
  /** Why the check failed; ignored (cleared) when healthy. */
  error?: string | null;
}

/**
 * Everything the control plane and gateway persist, over SQLite or PostgreSQL. Errors are
 * EdgeFleetErrors: `conflict` (unique name, stale version), `not_found`, `store_unavailable`.
 * Getters return `null` for a missing row; updates of a missing row throw `not_found`.
 */
export interface Store {
  readonly dialect: StoreDialect;

  upsertSite(site: NewSite): Promise<Site>;
  getSite(id: string): Promise<Site | null>;
  listSites(): Promise<Site[]>;

  /** Creates or replaces a node (by id) and its devices; marks it up and heartbeating now. */
  registerNode(input: RegisterNodeInput): Promise<StoredNode>;
  getNode(id: string): Promise<StoredNode | null>;
  /** Only nodes that are not revoked. */
  findNodeByCredentialHash(credentialHash: string): Promise<StoredNode | null>;
  listNodes(filter?: { siteId?: string }): Promise<StoredNode[]>;
  listDevices(nodeId?: string): Promise<StoredDevice[]>;
  recordHeartbeat(nodeId: string, atMs?: number): Promise<void>;
  /** Nodes marked up whose last heartbeat is older than `atMs` (or that never sent one). */
  listNodesNotSeenSince(atMs: number): Promise<StoredNode[]>;
  /** Marks a node up or down; `downReason` says why it is down (recorded only with `down`). */
  setNodeStatus(nodeId: string, status: NodeStatus, downReason?: NodeDownReason): Promise<void>;
  /** Cordons, drains or (null) returns a node to scheduling; an unknown node is a not_found error. */
  setNodeMaintenance(nodeId: string, maintenance: NodeMaintenance | null): Promise<void>;
  revokeNode(nodeId: string, atMs?: number): Promise<void>;

  /** A taken name throws `conflict`. */
  createDeployment(input: NewDeployment): Promise<Deployment>;
  getDeployment(id: string): Promise<Deployment | null>;
  getDeploymentByName(name: string): Promise<Deployment | null>;
  listDeployments(): Promise<Deployment[]>;
  /**
   * Inside `withTransaction`: other transactions that lock the same deployment wait until this one ends,
   * so that reading it and writing a change are one step (PostgreSQL: an advisory lock; SQLite's
   * transactions are serialized already).
   */
  lockDeployment(id: string): Promise<void>;
  /** With `newRevision`, its revision goes up by one. */
  updateDeployment(id: string, patch: DeploymentPatch, newRevision?: NewRevision): Promise<Deployment>;
  /** Sets `lastRequestAtMs` (never moves it back, leaves `updatedAtMs`); an unknown id is ignored. */
  touchDeployment(id: string, atMs?: number): Promise<void>;
  /** Deletes its instances too. Returns whether it existed. */
  deleteDeployment(id: string): Promise<boolean>;

  createInstance(input: NewInstance): Promise<Instance>;
  getInstance(id: string): Promise<Instance | null>;
  listInstances(filter?: { deploymentId?: string; nodeId?: string }): Promise<Instance[]>;
  /** Applies the patch only if the row still has `expectedVersion`, else throws `conflict`. */
  updateInstance(id: string, expectedVersion: number, patch: InstancePatch): Promise<Instance>;
  deleteInstance(id: string): Promise<boolean>;

  /** Limits left out are null (unlimited; every model). */
  createApiKey(input: NewApiKey): Promise<ApiKey>;
  /** Revoked keys are returned too (with `revokedAtMs`), so callers can tell "revoked" from "unknown". */
  findApiKeyByHash(keyHash: string): Promise<ApiKey | null>;
  listApiKeys(): Promise<ApiKey[]>;
  /**
   * Changes a key's name, allow-list, limits or region (never its role or hash). Unknown id throws
   * `not_found`; a revoked key, or a name another active key has, throws `conflict`.
   */
  updateApiKey(id: string, patch: ApiKeyPatch): Promise<ApiKey>;
  revokeApiKey(id: string, atMs?: number): Promise<void>;
  /** Sets `lastUsedAtMs` (never moves it back); an unknown id is ignored. */
  touchApiKey(id: string, atMs?: number): Promise<void>;

  createJoinToken(input: { id?: string; tokenHash: string; expiresAtMs: number }): Promise<JoinToken>;
  /** Single use and atomic: of two concurrent consumers exactly one gets `ok: true`. */
  consumeJoinToken(tokenHash: string, nowMs?: number): Promise<ConsumeJoinTokenResult>;

  /**
   * Idempotent by id: a record whose id is already stored is skipped. Returns how many were new.
   * Records without an id get a random one.
   */
  appendUsage(records: NewUsageRecord[]): Promise<number>;
  /** Totals grouped by key and model, ordered by key then model. */
  sumUsage(query: UsageQuery): Promise<UsageSummary[]>;
  /** Prompt + completion tokens a key has used, over all time (0 for none). */
  totalTokensForKey(keyId: string): Promise<number>;
  /**
   * Requests, errors, tokens and mean timings over [fromMs, toMs), grouped by the chosen fields and
   * time bucket (UTC); ordered by bucket, key, model, site.
   */
  aggregateUsage(query: UsageAggregateQuery): Promise<UsageAggregate[]>;
  /**
   * Requests, errors, completion tokens and p50/p99 TTFT and TPOT per fixed-width bucket (by arrival
   * time), per site and model and for all matched requests; only buckets that had requests.
   */
  trafficBuckets(query: TrafficQuery): Promise<TrafficBuckets>;

  /** A model already registered at the same URL throws `conflict`; health starts `unknown`. */
  createEndpoint(input: NewEndpoint): Promise<Endpoint>;
  getEndpoint(id: string): Promise<Endpoint | null>;
  /** Ordered by model, then creation. */
  listEndpoints(): Promise<Endpoint[]>;
  /** Sets what `changes` gives (null clears it); the endpoint as it is now, or null when unknown. */
  updateEndpoint(id: string, changes: EndpointChanges): Promise<Endpoint | null>;
  /** Returns whether it existed. */
  deleteEndpoint(id: string): Promise<boolean>;
  /** Records a health check; an unknown id (deleted meanwhile) is ignored. */
  recordEndpointCheck(id: string, check: EndpointCheck): Promise<void>;

  /** Runs `fn` in one transaction; a throw rolls everything back. Nested calls join the outer one. */
  withTransaction<T>(fn: (tx: Store) => Promise<T>): Promise<T>;

  /**
   * Non-blocking leadership for "one scheduler at a time". PostgreSQL: a session advisory lock on a
   * dedicated connection (lost when that connection or process dies; calling again while held
   * re-checks the connection). SQLite: always granted (one process owns the file).
   */
  tryAcquireLeadership(name: string): Promise<boolean>;
  releaseLeadership(name: string): Promise<void>;

  /** The schema version this database is at. */
  schemaVersion(): Promise<number>;
  close(): Promise<void>;
}
