/**
 * `/api/v1/deployments` (admin key): create (checked as the scheduler will resolve it), list, preview
 * (deployment-preview.ts), get, change and delete deployments. A change to what a deployment runs bumps
 * its revision; the reconciler rolls its instances over (rolling-update.ts).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
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
  modelUrlScheme,
  type CreateDeploymentRequest,
} from '../../spec/management-api.js';
import type { Store } from '../../store/store.js';
import type { Site } from '../../store/store-types.js';
import { previewDeployment } from './deployment-preview.js';
import { ModelResolver } from './model-resolver.js';
import { launchSpecOf } from './rolling-update.js';

export interface DeploymentRoutesContext {
  store: Store;
  maxBodyBytes: number;
  /** Called after a change that the reconciler should act on soon. */
  onChange?: () => void;
  /** The clock (tests move it). Default Date.now. */
  now?: () => number;
  /** The reconciler's model resolver (deployment previews read model headers through it). */
  resolver?: ModelResolver;
  /** Context tokens per instance, as the reconciler places them (default 4096). */
  contextTokens?: number;
}

/** Site names or ids → site ids, each once; an unknown site is a 400 listing the known ones. */
function resolveSites(requested: readonly string[], sites: readonly Site[]): string[] {
  const ids = requested.map((wanted) => {
    const site = sites.find((s) => s.id === wanted || s.name === wanted);
    if (!site) {
      const known = sites.map((s) => s.name).join(', ') || '(none registered yet)';
      throw new EdgeFleetError('invalid_request', `unknown site "${wanted}"; known sites: ${known}`, {
        param: 'sites',
      });
    }
    return site.id;
  });
  return [...new Set(ids)];
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
  ctx: DeploymentRoutesContext,
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
async function updateDeployment(ctx: DeploymentRoutesContext, request: IncomingMessage, id: string) {
  const body = parseWith(updateDeploymentRequestSchema, await readJsonBody(request, ctx.maxBodyBytes));
  checkWhatRuns(body);
  // The same sites in another order, or repeated, are no change (compared sorted, each once).
  const sites = body.sites && resolveSites(body.sites, await ctx.store.listSites());
  return ctx.store.withTransaction(async (tx) => {
    // Two changes at once: the second reads what the first wrote.
    await tx.lockDeployment(id);
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
    return tx.updateDeployment(
      id,
      {
        replicas,
        minReplicas,
        ...(body.idleTimeoutS !== undefined && { idleTimeoutMs: body.idleTimeoutS * 1000 }),
        ...(changed && runs),
      },
      changed ? { previous: launchSpecOf(current) } : undefined,
    );
  });
}

const noDeployment = (id: string) => new EdgeFleetError('not_found', `no deployment "${clipped(id)}"`);

/** `/deployments[/:id]`, `id` and `rest` being the path's segments after `deployments`. */
export async function handleDeployments(
  ctx: DeploymentRoutesContext,
  request: IncomingMessage,
  response: ServerResponse,
  id: string | undefined,
  rest: readonly string[],
): Promise<void> {
  const { store } = ctx;
  const method = request.method ?? 'GET';
  const path = ['deployments', id, ...rest].filter((s) => s !== undefined).join('/');
  const allow = (allowed: string[]): void => {
    if (rest.length > 0) throw new EdgeFleetError('not_found', `no route /api/v1/${clipped(path)}`);
    if (!allowed.includes(method)) throw methodNotAllowed(method, `/api/v1/${path}`, allowed);
  };
  if (id === undefined) {
    allow(['GET', 'POST']);
    if (method === 'GET') {
      return sendJson(response, 200, { object: 'list', data: await store.listDeployments() });
    }
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
  if (id === 'preview' && method === 'POST' && rest.length === 0) {
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
