/**
 * `/api/v1/keys` (admin key): create an API key with its limits (the secret is answered once and
 * only its hash is stored), list keys (never hashes or secrets), change a key's name, allow-list,
 * limits or region (the secret stays), and revoke one.
 */
import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { parseWith, readJsonBody } from '../../http/read-json-body.js';
import { sendJson } from '../../http/respond.js';
import {
  createApiKeyRequestSchema,
  updateApiKeyRequestSchema,
  type ApiKeyView,
  type CreateApiKeyResponse,
  type RevokeApiKeyResponse,
  type UpdateApiKeyResponse,
} from '../../spec/api-keys.js';
import { clipped, EdgeFleetError, methodNotAllowed } from '../../spec/edgefleet-error.js';
import type { ApiKeyPatch, Store } from '../../store/store.js';
import type { ApiKey } from '../../store/store-types.js';
import { newSecret } from './secrets.js';
import { hashSecret } from '../../http/bearer-secret.js';

export interface KeyRoutesContext {
  store: Store;
  maxBodyBytes: number;
}

/** The public view of a stored key. */
export function toApiKeyView(key: ApiKey, tokensUsed: number): ApiKeyView {
  return {
    id: key.id,
    object: 'api_key',
    name: key.name,
    role: key.role,
    models: key.allowedModels,
    rpm: key.rpm,
    tpm: key.tpm,
    tokenBudget: key.tokenBudget,
    region: key.region,
    tokensUsed,
    createdAtMs: key.createdAtMs,
    revokedAtMs: key.revokedAtMs,
    lastUsedAtMs: key.lastUsedAtMs,
  };
}

/** `ef_key_…` for inference keys, `ef_admin_…` for admin keys (256 random bits). */
function newKeySecret(role: ApiKey['role']): string {
  return role === 'admin' ? newSecret('admin') : `ef_key_${randomBytes(32).toString('base64url')}`;
}

/**
 * One warning per allowed model that no deployment or registered endpoint serves: a key made before its
 * deployment is fine, but a misspelt name would otherwise only show as 404s to the key's clients.
 */
async function unservedModelWarnings(store: Store, models: readonly string[] | null): Promise<string[]> {
  if (models === null) return [];
  const [deployments, endpoints] = await Promise.all([store.listDeployments(), store.listEndpoints()]);
  const served = new Set([...deployments.map((d) => d.name), ...endpoints.map((e) => e.model)]);
  return models
    .filter((model) => !served.has(model))
    .map(
      (model) => `no deployment or endpoint serves model "${model}" yet; the key can call it once one does`,
    );
}

/**
 * `PATCH /api/v1/keys/:id`: the body's fields change, the others stay. A revoked key is 409 `conflict`
 * (it stays revoked; a new key is what its holder needs), an unknown id 404.
 */
async function updateKey(
  ctx: KeyRoutesContext,
  request: IncomingMessage,
  response: ServerResponse,
  id: string,
): Promise<void> {
  const raw = await readJsonBody(request, ctx.maxBodyBytes);
  if (raw !== null && typeof raw === 'object' && !Array.isArray(raw) && 'role' in raw) {
    throw new EdgeFleetError(
      'invalid_request',
      "a key's role cannot be changed: create a key with the role it needs and revoke this one",
      { param: 'role' },
    );
  }
  const body = parseWith(updateApiKeyRequestSchema, raw);
  const patch: ApiKeyPatch = {};
  if (body.name !== undefined) patch.name = body.name;
  if (body.models !== undefined)
    patch.allowedModels = body.models === null ? null : [...new Set(body.models)];
  if (body.rpm !== undefined) patch.rpm = body.rpm;
  if (body.tpm !== undefined) patch.tpm = body.tpm;
  if (body.tokenBudget !== undefined) patch.tokenBudget = body.tokenBudget;
  if (body.region !== undefined) patch.region = body.region;
  const key = await ctx.store.updateApiKey(id, patch).catch((error: unknown) => {
    // The store's not_found names its table; the API names the key as DELETE does.
    if ((error as { code?: unknown }).code === 'not_found') {
      throw new EdgeFleetError('not_found', `no API key "${clipped(id)}"`, { param: 'id' });
    }
    throw error;
  });
  const updated: UpdateApiKeyResponse = toApiKeyView(key, await ctx.store.totalTokensForKey(key.id));
  const warnings = body.models ? await unservedModelWarnings(ctx.store, key.allowedModels) : [];
  if (warnings.length > 0) updated.warnings = warnings;
  return sendJson(response, 200, updated);
}

/** Handles `/api/v1/keys[/:id]`; `id` and `rest` are the path segments after `keys`. */
export async function handleKeys(
  ctx: KeyRoutesContext,
  request: IncomingMessage,
  response: ServerResponse,
  id: string | undefined,
  rest: readonly string[],
): Promise<void> {
  const { store } = ctx;
  const method = request.method ?? 'GET';
  if (rest.length > 0) throw new EdgeFleetError('not_found', `no route ${clipped(request.url ?? '')}`);

  if (id === undefined && method === 'GET') {
    const [keys, usage] = await Promise.all([
      store.listApiKeys(),
      store.sumUsage({ fromMs: 0, toMs: Number.MAX_SAFE_INTEGER }),
    ]);
    const used = new Map<string, number>();
    for (const u of usage) used.set(u.keyId, (used.get(u.keyId) ?? 0) + u.promptTokens + u.completionTokens);
    const data = keys.map((key) => toApiKeyView(key, used.get(key.id) ?? 0));
    return sendJson(response, 200, { object: 'list', data });
  }

  if (id === undefined && method === 'POST') {
    const body = parseWith(createApiKeyRequestSchema, await readJsonBody(request, ctx.maxBodyBytes));
    // A name an active key has already is 409 conflict (the store checks it).
    const secret = newKeySecret(body.role);
    const key = await store.createApiKey({
      name: body.name,
      keyHash: hashSecret(secret),
      role: body.role,
      allowedModels: body.models ? [...new Set(body.models)] : null,
      rpm: body.rpm ?? null,
      tpm: body.tpm ?? null,
      tokenBudget: body.tokenBudget ?? null,
      region: body.region ?? null,
    });
    const created: CreateApiKeyResponse = { ...toApiKeyView(key, 0), key: secret };
    const warnings = await unservedModelWarnings(store, key.allowedModels);
    if (warnings.length > 0) created.warnings = warnings;
    return sendJson(response, 201, created);
  }

  if (id !== undefined && method === 'PATCH') return updateKey(ctx, request, response, id);

  if (id !== undefined && method === 'DELETE') {
    const keys = await store.listApiKeys();
    const key = keys.find((k) => k.id === id);
    if (!key) throw new EdgeFleetError('not_found', `no API key "${clipped(id)}"`, { param: 'id' });
    const otherAdmins = keys.filter((k) => k.role === 'admin' && k.revokedAtMs === null && k.id !== id);
    if (key.role === 'admin' && key.revokedAtMs === null && otherAdmins.length === 0) {
      throw new EdgeFleetError(
        'conflict',
        `API key "${key.name}" is the last admin key; create another admin key before revoking it`,
      );
    }
    await store.revokeApiKey(id);
    const revokedAtMs = (await store.listApiKeys()).find((k) => k.id === id)?.revokedAtMs ?? Date.now();
    const revoked: RevokeApiKeyResponse = { id, object: 'api_key', revoked: true, revokedAtMs };
    return sendJson(response, 200, revoked);
  }
  throw methodNotAllowed(
    method,
    request.url ?? '/api/v1/keys',
    id === undefined ? ['GET', 'POST'] : ['PATCH', 'DELETE'],
  );
}
