import { z } from 'zod';
import { apiKeyRoles } from '../spec/api-keys.js';
import { nodeMaintenanceSchema } from '../spec/management-api.js';
import type {
  ApiKey,
  Deployment,
  Endpoint,
  Instance,
  JoinToken,
  Site,
  StoredDevice,
  StoredNode,
  UsageAggregate,
  UsageSummary,
} from './store-types.js';
import { nodeDownReasons } from './store-types.js';

/**
 * Row → record mappers, validated with zod. Numbers are coerced because PostgreSQL returns BIGINT,
 * COUNT and SUM as strings; JSON columns are TEXT in both databases.
 */
const num = z.coerce.number();
const nullableNum = z.null().or(z.coerce.number());
const nullableText = z.string().nullable();
const json = <T extends z.ZodType>(schema: T) =>
  z
    .string()
    .transform((text) => JSON.parse(text) as unknown)
    .pipe(schema);

const siteRow = z.object({ id: z.string(), name: z.string(), region: nullableText, created_at_ms: num });

export const toSite = (row: unknown): Site => {
  const r = siteRow.parse(row);
  return { id: r.id, name: r.name, region: r.region, createdAtMs: r.created_at_ms };
};

const nodeRow = z.object({
  id: z.string(),
  site_id: z.string(),
  name: z.string(),
  address: z.string(),
  status: z.enum(['up', 'down']),
  credential_hash: z.string(),
  last_heartbeat_at_ms: nullableNum,
  labels: json(z.record(z.string(), z.string())),
  created_at_ms: num,
  revoked_at_ms: nullableNum,
  maintenance: nodeMaintenanceSchema.nullable(),
  // A reason a newer version wrote and this one does not know reads as none.
  down_reason: z.enum(nodeDownReasons).nullable().catch(null),
});

export const toNode = (row: unknown): StoredNode => {
  const r = nodeRow.parse(row);
  return {
    id: r.id,
    siteId: r.site_id,
    name: r.name,
    address: r.address,
    status: r.status,
    downReason: r.down_reason,
    credentialHash: r.credential_hash,
    lastHeartbeatAtMs: r.last_heartbeat_at_ms,
    labels: r.labels,
    createdAtMs: r.created_at_ms,
    revokedAtMs: r.revoked_at_ms,
    maintenance: r.maintenance,
  };
};

const deviceRow = z.object({
  node_id: z.string(),
  device_index: num,
  vendor: z.string(),
  kind: z.string(),
  name: z.string(),
  memory_bytes: num,
  hardware_id: nullableText,
});

export const toDevice = (row: unknown): StoredDevice => {
  const r = deviceRow.parse(row);
  const { node_id: nodeId, device_index: index, memory_bytes: memoryBytes, hardware_id: hardwareId } = r;
  return { nodeId, index, vendor: r.vendor, kind: r.kind, name: r.name, memoryBytes, hardwareId };
};

const deploymentRow = z.object({
  id: z.string(),
  name: z.string(),
  model_ref: z.string(),
  quant: nullableText,
  engine: nullableText,
  replicas: num,
  min_replicas: nullableNum,
  idle_timeout_ms: num,
  last_request_at_ms: nullableNum,
  context_tokens: nullableNum,
  site_constraints: json(z.array(z.string())),
  revision: num,
  status: z.enum(['pending', 'running', 'degraded', 'failed', 'deleting']),
  status_reason: nullableText,
  created_at_ms: num,
  updated_at_ms: num,
});

export const toDeployment = (row: unknown): Deployment => {
  const r = deploymentRow.parse(row);
  return {
    id: r.id,
    name: r.name,
    modelRef: r.model_ref,
    quant: r.quant,
    engine: r.engine,
    replicas: r.replicas,
    minReplicas: r.min_replicas ?? r.replicas,
    idleTimeoutMs: r.idle_timeout_ms,
    lastRequestAtMs: r.last_request_at_ms,
    contextTokens: r.context_tokens,
    siteConstraints: r.site_constraints,
    revision: r.revision,
    status: r.status,
    statusReason: r.status_reason,
    createdAtMs: r.created_at_ms,
    updatedAtMs: r.updated_at_ms,
  };
};

export const instanceStates = [
  'pending',
  'scheduled',
  'downloading',
  'starting',
  'running',
  'failed',
  'stopping',
  'stopped',
] as const;

const instanceRow = z.object({
  id: z.string(),
  deployment_id: z.string(),
  node_id: nullableText,
  state: z.enum(instanceStates),
  engine: z.string(),
  port: nullableNum,
  allocations: json(
    z.array(z.object({ deviceIndex: z.number(), memoryBytes: z.number(), nodeId: z.string().optional() })),
  ),
  restarts: num,
  last_error: nullableText,
  downloaded_bytes: nullableNum,
  download_total_bytes: nullableNum,
  engine_key: nullableText,
  revision: num,
  launch_spec: z.null().or(
    json(
      z.object({
        modelRef: z.string(),
        quant: z.string().nullable(),
        contextTokens: z.number().nullable(),
      }),
    ),
  ),
  version: num,
  created_at_ms: num,
  updated_at_ms: num,
});

export const toInstance = (row: unknown): Instance => {
  const r = instanceRow.parse(row);
  return {
    id: r.id,
    deploymentId: r.deployment_id,
    nodeId: r.node_id,
    state: r.state,
    engine: r.engine,
    port: r.port,
    allocations: r.allocations,
    restarts: r.restarts,
    lastError: r.last_error,
    downloadedBytes: r.downloaded_bytes,
    downloadTotalBytes: r.download_total_bytes,
    engineKey: r.engine_key,
    revision: r.revision,
    launchSpec: r.launch_spec,
    version: r.version,
    createdAtMs: r.created_at_ms,
    updatedAtMs: r.updated_at_ms,
  };
};

const apiKeyRow = z.object({
  id: z.string(),
  name: z.string(),
  key_hash: z.string(),
  role: z.enum(apiKeyRoles),
  allowed_models: z.null().or(json(z.array(z.string()))),
  rpm: nullableNum,
  tpm: nullableNum,
  token_budget: nullableNum,
  region: nullableText,
  created_at_ms: num,
  revoked_at_ms: nullableNum,
  last_used_at_ms: nullableNum,
});

export const toApiKey = (row: unknown): ApiKey => {
  const r = apiKeyRow.parse(row);
  return {
    id: r.id,
    name: r.name,
    keyHash: r.key_hash,
    role: r.role,
    allowedModels: r.allowed_models,
    rpm: r.rpm,
    tpm: r.tpm,
    tokenBudget: r.token_budget,
    region: r.region,
    createdAtMs: r.created_at_ms,
    revokedAtMs: r.revoked_at_ms,
    lastUsedAtMs: r.last_used_at_ms,
  };
};

const joinTokenRow = z.object({
  id: z.string(),
  token_hash: z.string(),
  expires_at_ms: num,
  used_at_ms: nullableNum,
  created_at_ms: num,
});

export const toJoinToken = (row: unknown): JoinToken => {
  const r = joinTokenRow.parse(row);
  const { id, token_hash: tokenHash, expires_at_ms: expiresAtMs, used_at_ms: usedAtMs } = r;
  return { id, tokenHash, expiresAtMs, usedAtMs, createdAtMs: r.created_at_ms };
};

const usageSummaryRow = z.object({
  key_id: z.string(),
  model: z.string(),
  requests: num,
  prompt_tokens: num,
  completion_tokens: num,
});

export const toUsageSummary = (row: unknown): UsageSummary => {
  const r = usageSummaryRow.parse(row);
  return {
    keyId: r.key_id,
    model: r.model,
    requests: r.requests,
    promptTokens: r.prompt_tokens,
    completionTokens: r.completion_tokens,
  };
};

const usageAggregateRow = z.object({
  key_id: nullableText.optional(),
  model: nullableText.optional(),
  site_name: nullableText.optional(),
  gateway_site: nullableText.optional(),
  bucket_start_ms: nullableNum.optional(),
  requests: num,
  errors: nullableNum,
  prompt_tokens: nullableNum,
  completion_tokens: nullableNum,
  mean_ttft_ms: nullableNum,
  mean_duration_ms: nullableNum,
});

export const toUsageAggregate = (row: unknown): UsageAggregate => {
  const r = usageAggregateRow.parse(row);
  return {
    keyId: r.key_id ?? null,
    model: r.model ?? null,
    siteName: r.site_name ?? null,
    gatewaySite: r.gateway_site ?? null,
    bucketStartMs: r.bucket_start_ms ?? null,
    requests: r.requests,
    errors: r.errors ?? 0,
    promptTokens: r.prompt_tokens ?? 0,
    completionTokens: r.completion_tokens ?? 0,
    meanTtftMs: r.mean_ttft_ms,
    meanDurationMs: r.mean_duration_ms,
  };
};

const endpointRow = z.object({
  id: z.string(),
  model: z.string(),
  url: z.string(),
  site_id: z.string(),
  api_key: nullableText,
  upstream_model: nullableText,
  health: z.enum(['unknown', 'healthy', 'unhealthy']),
  last_check_at_ms: nullableNum,
  last_error: nullableText,
  created_at_ms: num,
});

export const toEndpoint = (row: unknown): Endpoint => {
  const r = endpointRow.parse(row);
  return {
    id: r.id,
    model: r.model,
    url: r.url,
    siteId: r.site_id,
    apiKey: r.api_key,
    upstreamModel: r.upstream_model,
    health: r.health,
    lastCheckAtMs: r.last_check_at_ms,
    lastError: r.last_error,
    createdAtMs: r.created_at_ms,
  };
};
