/**
 * API keys with limits: the `/api/v1/keys` management API (request schema, public view) and the
 * principal the gateway's key guard works with. Documented in docs/api.md, "API keys and limits".
 */
import { z } from 'zod';

/**
 * What a key may do (docs/security.md, "Roles"):
 * - `admin`: everything (the management API, `/v1`, `/metrics`);
 * - `inference`: `/v1` only;
 * - `gateway`: what a room gateway needs from the control plane (`/api/v1/gateway/*`, shipping usage
 *   events), nothing else, so a room gateway need not hold the admin key;
 * - `metrics`: `/metrics` only (a Prometheus scrape credential).
 */
export const apiKeyRoles = ['admin', 'inference', 'gateway', 'metrics'] as const;
export type ApiKeyRoleName = (typeof apiKeyRoles)[number];

/** Roles that may call `/v1`. */
export const inferenceRoles: readonly ApiKeyRoleName[] = ['admin', 'inference'];
/** Roles that may read `/metrics`. */
export const metricsRoles: readonly ApiKeyRoleName[] = ['admin', 'metrics'];
/** Roles that may call the room gateways' part of the control plane API. */
export const gatewaySyncRoles: readonly ApiKeyRoleName[] = ['admin', 'gateway'];

const limit = z.number().int().min(1).max(Number.MAX_SAFE_INTEGER);

const keyName = z
  .string()
  .min(1)
  .max(128)
  .regex(/^[A-Za-z0-9][A-Za-z0-9._:@/-]*$/, 'letters, digits and . _ : @ / - only');
const modelList = z.array(z.string().min(1).max(128)).min(1).max(256);
const region = z.string().min(1).max(128);

/** `POST /api/v1/keys`. Limits left out mean unlimited; `models` left out means every model. */
export const createApiKeyRequestSchema = z.strictObject({
  name: keyName,
  /** Deployment names (what clients put in `model`) the key may call. */
  models: modelList.optional(),
  /** Requests per minute. */
  rpm: limit.optional(),
  /** Tokens (prompt + completion) per minute. */
  tpm: limit.optional(),
  /** Tokens (prompt + completion) over the key's life. */
  tokenBudget: limit.optional(),
  /** The region whose gateways the key is meant for. */
  region: region.optional(),
  role: z.enum(apiKeyRoles).default('inference'),
});
export type CreateApiKeyRequest = z.infer<typeof createApiKeyRequestSchema>;

/** The fields `PATCH /api/v1/keys/:id` may change (not the role, not the secret). */
export const updatableKeyFields = ['name', 'models', 'rpm', 'tpm', 'tokenBudget', 'region'] as const;

/**
 * `PATCH /api/v1/keys/:id`: the fields given change, the others stay; null removes a limit (`models`:
 * every model; `region`: any). At least one field.
 */
export const updateApiKeyRequestSchema = z
  .strictObject({
    name: keyName.optional(),
    models: modelList.nullable().optional(),
    rpm: limit.nullable().optional(),
    tpm: limit.nullable().optional(),
    tokenBudget: limit.nullable().optional(),
    region: region.nullable().optional(),
  })
  .refine((body) => Object.keys(body).length > 0, {
    message: `give at least one of ${updatableKeyFields.join(', ')}`,
  });
export type UpdateApiKeyRequest = z.infer<typeof updateApiKeyRequestSchema>;

/** What `GET /api/v1/keys` shows of a key: never its hash or secret. */
export interface ApiKeyView {
  id: string;
  object: 'api_key';
  name: string;
  role: ApiKeyRoleName;
  /** null: every model. */
  models: string[] | null;
  rpm: number | null;
  tpm: number | null;
  tokenBudget: number | null;
  region: string | null;
  /** Prompt + completion tokens recorded in the usage ledger. */
  tokensUsed: number;
  createdAtMs: number;
  revokedAtMs: number | null;
  lastUsedAtMs: number | null;
}

/** `POST /api/v1/keys` answers 201 with the view and the secret, which is shown this once only. */
export interface CreateApiKeyResponse extends ApiKeyView {
  key: string;
  /**
   * Present when something about the key looks like a mistake but was accepted: a name in `models` that
   * no deployment or endpoint serves yet (the key may call it once one does).
   */
  warnings?: string[];
}

/** `PATCH /api/v1/keys/:id` answers 200 with the key as it is now. */
export interface UpdateApiKeyResponse extends ApiKeyView {
  /** As for a new key: names in a changed `models` that no deployment or endpoint serves yet. */
  warnings?: string[];
}

/** `DELETE /api/v1/keys/:id`. */
export interface RevokeApiKeyResponse {
  id: string;
  object: 'api_key';
  revoked: true;
  revokedAtMs: number;
}

/** Who a gateway request is, as the key guard sees it (a key that is not revoked). */
export interface KeyPrincipal {
  keyId: string;
  name: string;
  role: ApiKeyRoleName;
  /** null: every model. */
  allowedModels: readonly string[] | null;
  rpm: number | null;
  tpm: number | null;
  tokenBudget: number | null;
  region: string | null;
  /** Tokens in the usage ledger when the principal was looked up (counts toward the budget). */
  tokensUsed: number;
  /**
   * When `tokensUsed` was read (or asked for), on the clock of the process that enforces the budget:
   * tokens it shipped to the ledger after this count on top. Absent: everything shipped is in it.
   */
  tokensUsedAtMs?: number;
}
