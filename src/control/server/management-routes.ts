import type { IncomingMessage, ServerResponse } from 'node:http';
import { z } from 'zod';
import { findEngine } from '../../catalog/engines/engine-catalog.js';
import { modelCatalog } from '../../catalog/models/model-catalog.js';
import { findQuantization } from '../../catalog/quantizations/quantization-catalog.js';
import { parseWith, readJsonBody } from '../../http/read-json-body.js';
import { sendJson } from '../../http/respond.js';
import { clipped, EdgeFleetError, methodNotAllowed } from '../../spec/edgefleet-error.js';
import {
  createDeploymentRequestSchema,
  updateDeploymentRequestSchema,
  isModelReference,
  isRelativeModelPath,
  listInstancesQuerySchema,
  modelUrlScheme,
  type CreateDeploymentRequest,
} from '../../spec/management-api.js';
import type { Store } from '../../store/store.js';
import type { Site } from '../../store/store-types.js';
import { previewDeployment } from './deployment-preview.js';
import { handleGatewaySync } from './gateway-sync-routes.js';
import type { InstanceLoads } from './instance-loads.js';
import type { InstanceLogs } from './instance-logs.js';
import { ModelResolver } from './model-resolver.js';
import { handleEndpoints } from './endpoint-routes.js';
import { handleKeys } from './key-routes.js';
import { handlePlanner } from './planner-routes.js';
import { revokeNode } from './revoke-node.js';
import { handleTraffic } from './traffic-routes.js';
import { handleUsage } from './usage-routes.js';

export interface ManagementContext {
  store: Store;
  maxBodyBytes: number;
  /** Called after a change that the reconciler should act on soon. */
  onChange?: () => void;
  /** Engine loads from heartbeats, for the route table handed to per-room gateways. */
  loads?: InstanceLoads;
  /** The clock (tests move it). Default Date.now. */
  now?: () => number;
  /** Engine log tails from heartbeats. */
  logs?: InstanceLogs;
  /** The reconciler's model resolver (deployment previews read model headers through it). */
  resolver?: ModelResolver;
  /** Context tokens per instance, as the reconciler places them (default 4096). */
  contextTokens?: number;
}

const list = <T>(data: T[]) => ({ object: 'list' as const, data });

const instanceLogQuerySchema = z.strictObject({
  lines: z
    .string()
    .regex(/^\d+$/, 'expected a whole number')
    .transform(Number)
    .pipe(z.number().int().min(1).max(1000))
    .default(200),
});

/** Site names or ids → site ids; an unknown site is a 400 listing the known ones. */
function resolveSites(requested: readonly string[], sites: readonly Site[]): string[] {
  return requested.map((wanted) => {
    const site = sites.find((s) => s.id === wanted || s.name === wanted);
    if (!site) {
      const known = sites.map((s) => s.name).join(', ') || '(none registered yet)';
      throw new EdgeFleetError('invalid_request', `unknown site "${wanted}"; known sites: ${known}`, {
        param: 'sites',
      });
    }
    return site.id;
  });
}

/**
 * Refuses now, rather than accepting and staying pending for ever, a model, engine or quantization the
 * scheduler could never resolve (it resolves them the same way).
 */
function checkWhatRuns(body: { model?: string; quant?: string | null; engine?: string | null }): void {
  const { model } = body;
  if (body.engine != null) findEngine(body.engine);
  if (body.quant != null) findQuantization(body.quant);
  if (model === undefined) return;
  const scheme = modelUrlScheme(model);
  if (scheme !== undefined && scheme !== 'http' && scheme !== 'https') {
    throw new EdgeFleetError(
      'invalid_request',
      `model "${model}": ${scheme}:// is not a way to fetch a model; use https://, hf:, an absolute GGUF path or a catalog id`,
      { param: 'model' },
    );
  }
  if (isRelativeModelPath(model)) {
    throw new EdgeFleetError(
      'invalid_request',
      `model "${model}" is a relative path; give the GGUF file's absolute path (the control plane and the workers do not share the client's working directory)`,
      { param: 'model' },
    );
  }
  if (!isModelReference(model) && !modelCatalog.some((m) => m.id === model)) {
    throw new EdgeFleetError(
      'invalid_request',
      `unknown model "${model}": use a GGUF path, an https URL, an hf: reference or one of: ${modelCatalog.map((m) => m.id).join(', ')}`,
      { param: 'model' },
    );
  }
}

/** A create (or preview) body, validated as create does it; sites are resolved to site ids. */
async function readDeploymentRequest(
  ctx: ManagementContext,
  request: IncomingMessage,
): Promise<{ body: CreateDeploymentRequest; siteConstraints: string[] }> {
  const body = parseWith(createDeploymentRequestSchema, await readJsonBody(request, ctx.maxBodyBytes));
  checkWhatRuns(body);
  return { body, siteConstraints: resolveSites(body.sites ?? [], await ctx.store.listSites()) };
}

/**
 * `PATCH /deployments/:id`: scales at once; a change to what runs bumps the revision, and the reconciler
 * rolls the instances over to it (reconciler.ts). Giving what it already runs changes nothing.
 */
async function updateDeployment(ctx: ManagementContext, request: IncomingMessage, id: string) {
  const body = parseWith(updateDeploymentRequestSchema, await readJsonBody(request, ctx.maxBodyBytes));
  checkWhatRuns(body);
  const sites = body.sites && resolveSites(body.sites, await ctx.store.listSites());
  return ctx.store.withTransaction(async (tx) => {
    const current = await tx.getDeployment(id);
    if (!current) throw noDeployment(id);
    const replicas = body.replicas ?? current.replicas;
    // A deployment that never scaled down keeps doing so: its minReplicas follows its replicas.
    const keptAll = current.minReplicas === current.replicas;
    const minReplicas = body.minReplicas ?? (keptAll ? replicas : Math.min(current.minReplicas, replicas));
    if (minReplicas > replicas) {
      const message = `minReplicas (${minReplicas}) must not exceed replicas (${replicas})`;
      throw new EdgeFleetError('invalid_request', message, { param: 'minReplicas' });
    }
    const runs = {
      modelRef: body.model ?? current.modelRef,
      quant: body.quant === undefined ? current.quant : body.quant,
      engine: body.engine === undefined ? current.engine : body.engine,
      contextTokens: body.contextTokens === undefined ? current.contextTokens : body.contextTokens,
      siteConstraints: sites ?? current.siteConstraints,
    };
    const changed =
      runs.modelRef !== current.modelRef ||
      runs.quant !== current.quant ||
      runs.engine !== current.engine ||
      runs.contextTokens !== current.contextTokens ||
      [...runs.siteConstraints].sort().join() !== [...current.siteConstraints].sort().join();
    return tx.updateDeployment(id, {
      replicas,
      minReplicas,
      ...(body.idleTimeoutS !== undefined && { idleTimeoutMs: body.idleTimeoutS * 1000 }),
      ...(changed && { ...runs, revision: current.revision + 1 }),
    });
  });
}

const noDeployment = (id: string) => new EdgeFleetError('not_found', `no deployment "${clipped(id)}"`);

/**
 * `GET /instances/:id/logs?lines=N`: the last N lines (default 200, at most 1000) of the log tail its
 * worker last sent. An instance the store no longer has (a failed one is removed by the reconciler)
 * still answers while its tail is in memory.
 */
async function instanceLog(ctx: ManagementContext, id: string, query: URLSearchParams) {
  const { lines } = parseWith(instanceLogQuerySchema, Object.fromEntries(query));
  const log = ctx.logs?.get(id);
  if (!log && !(await ctx.store.getInstance(id)))
    throw new EdgeFleetError('not_found', `no instance "${clipped(id)}"`);
  return {
    object: 'instance_log' as const,
    id,
    lines: log ? log.lines.slice(-lines) : [],
    updatedAtMs: log ? log.updatedAtMs : null,
  };
}

/**
 * Handles `/api/v1/{sites,nodes,deployments,instances,keys,usage,endpoints}` and the dashboard's
 * `catalog`, `planner/…` (planner-routes.ts), `deployments/preview` (deployment-preview.ts), `traffic`
 * (traffic-routes.ts) and `instances/:id/logs` after the admin key was
 * checked. Revoking a node (`DELETE /nodes/:id`) is in revoke-node.ts; API keys are in key-routes.ts,
 * the usage ledger in usage-routes.ts, external endpoints in endpoint-routes.ts.
 * `path` is the part after `/api/v1/`.
 */
export async function handleManagement(
  ctx: ManagementContext,
  request: IncomingMessage,
  response: ServerResponse,
  path: string,
  query: URLSearchParams,
): Promise<void> {
  const { store } = ctx;
  const method = request.method ?? 'GET';
  const segments = path.split('/').filter((s) => s !== '');
  const [resource, id, ...rest] = segments;
  const allow = (allowed: string[]): void => {
    if (rest.length > 0) throw new EdgeFleetError('not_found', `no route /api/v1/${clipped(path)}`);
    if (!allowed.includes(method)) throw methodNotAllowed(method, `/api/v1/${path}`, allowed);
  };

  if (resource === 'keys') return handleKeys(ctx, request, response, id, rest);
  if (resource === 'usage') return handleUsage(ctx, request, response, segments.slice(1), query);
  if (resource === 'endpoints') return handleEndpoints(ctx, request, response, id, rest);
  if (resource === 'gateway') return handleGatewaySync(ctx, request, response, id, rest);
  if (resource === 'traffic') {
    return handleTraffic(store, request, response, segments.slice(1), query, (ctx.now ?? Date.now)());
  }
  if (resource === 'catalog' || resource === 'planner') {
    if (await handlePlanner(ctx.maxBodyBytes, request, response, segments)) return;
  }
  if (resource === 'sites' && id === undefined) {
    allow(['GET']);
    return sendJson(response, 200, list(await store.listSites()));
  }
  if (resource === 'nodes' && id === undefined) {
    allow(['GET']);
    const [nodes, devices] = await Promise.all([store.listNodes(), store.listDevices()]);
    // Revoked nodes are gone for the user (DELETE /nodes/:id); their rows stay only as a record.
    const data = nodes
      .filter((n) => n.revokedAtMs === null)
      .map(({ credentialHash: _hidden, ...node }) => ({
        ...node,
        devices: devices.filter((d) => d.nodeId === node.id),
      }));
    return sendJson(response, 200, list(data));
  }
  if (resource === 'nodes' && id !== undefined) {
    allow(['DELETE']);
    const removed = await revokeNode(store, id);
    ctx.onChange?.();
    return sendJson(response, 200, removed);
  }
  if (resource === 'instances' && id === undefined) {
    allow(['GET']);
    const filter = parseWith(listInstancesQuerySchema, Object.fromEntries(query));
    const instances = await store.listInstances(
      filter.deployment === undefined ? {} : { deploymentId: filter.deployment },
    );
    // The engine key is for workers and gateways (the route table), never shown here.
    return sendJson(response, 200, list(instances.map(({ engineKey: _engineKey, ...view }) => view)));
  }
  if (resource === 'instances' && id !== undefined && rest.length === 1 && rest[0] === 'logs') {
    if (method !== 'GET') throw methodNotAllowed(method, `/api/v1/${path}`, ['GET']);
    return sendJson(response, 200, await instanceLog(ctx, id, query));
  }
  if (resource === 'deployments' && id === undefined) {
    allow(['GET', 'POST']);
    if (method === 'GET') return sendJson(response, 200, list(await store.listDeployments()));
    const { body, siteConstraints } = await readDeploymentRequest(ctx, request);
    const deployment = await store.createDeployment({
      name: body.name,
      modelRef: body.model,
      quant: body.quant ?? null,
      engine: body.engine ?? null,
      replicas: body.replicas,
      ...(body.minReplicas !== undefined && { minReplicas: body.minReplicas }),
      ...(body.idleTimeoutS !== undefined && { idleTimeoutMs: body.idleTimeoutS * 1000 }),
      ...(body.contextTokens !== undefined && { contextTokens: body.contextTokens }),
      siteConstraints,
      status: 'pending',
      statusReason: 'waiting for the scheduler',
    });
    ctx.onChange?.();
    return sendJson(response, 201, deployment);
  }
  if (resource === 'deployments' && id === 'preview' && method === 'POST' && rest.length === 0) {
    const { body, siteConstraints } = await readDeploymentRequest(ctx, request);
    const preview = await previewDeployment(
      {
        store,
        resolver: ctx.resolver ?? new ModelResolver(),
        contextTokens: ctx.contextTokens ?? 4096,
        nowMs: (ctx.now ?? Date.now)(),
      },
      body,
      siteConstraints,
    );
    return sendJson(response, 200, preview);
  }
  if (resource === 'deployments' && id !== undefined) {
    allow(['GET', 'PATCH', 'DELETE']);
    if (method === 'GET') {
      const deployment = await store.getDeployment(id);
      if (!deployment) throw noDeployment(id);
      return sendJson(response, 200, deployment);
    }
    if (method === 'PATCH') {
      const updated = await updateDeployment(ctx, request, id);
      ctx.onChange?.();
      return sendJson(response, 200, updated);
    }
    if (!(await store.deleteDeployment(id))) throw noDeployment(id);
    ctx.onChange?.();
    return sendJson(response, 200, { id, object: 'deployment', deleted: true });
  }
  throw new EdgeFleetError('not_found', `no route /api/v1/${clipped(path)}`);
}
