/**
 * What a per-room gateway (`edgefleet gateway`) pulls from the control plane to keep serving its room:
 * `GET /api/v1/gateway/routes` (the route table) and `GET /api/v1/gateway/keys` (every API key that is
 * not revoked, by the hash the store keeps). Both need the admin key. The gateway validates the answers
 * with these schemas; they are lenient (unknown fields pass through) so that an older gateway keeps
 * working against a newer control plane.
 */
import { z } from 'zod';
import { apiKeyRoles, type KeyPrincipal } from './api-keys.js';
import type { RouteTable } from './route-table.js';

/** `GET /api/v1/gateway/routes` answers the route table as the control plane's own gateway sees it. */
export type GatewayRoutesResponse = RouteTable;

const routeInstanceSchema = z.looseObject({
  id: z.string(),
  deploymentId: z.string(),
  nodeId: z.string(),
  nodeName: z.string(),
  siteId: z.string(),
  siteName: z.string(),
  region: z.string().nullable(),
  url: z.string().min(1),
  upstreamModel: z.string().min(1).optional(),
});

const routeModelSchema = z.looseObject({
  name: z.string().min(1),
  deploymentId: z.string(),
  status: z.string(),
  statusReason: z.string().nullable(),
  createdAtMs: z.number(),
  instances: z.array(routeInstanceSchema),
});

export const gatewayRoutesResponseSchema = z.looseObject({
  builtAtMs: z.number(),
  models: z.array(routeModelSchema),
  sites: z
    .array(z.looseObject({ id: z.string(), name: z.string(), region: z.string().nullable() }))
    .optional(),
});

/** One key a gateway may accept: the principal and the sha256 hex of its secret, as stored. */
export interface GatewayKeyEntry extends KeyPrincipal {
  keyHash: string;
}

/** `GET /api/v1/gateway/keys`. */
export interface GatewayKeysResponse {
  object: 'list';
  /** When the control plane read the keys (epoch ms). */
  builtAtMs: number;
  data: GatewayKeyEntry[];
}

const limit = z.number().int().min(1).nullable();

const gatewayKeyEntrySchema = z.looseObject({
  keyHash: z.string().regex(/^[0-9a-f]{64}$/),
  keyId: z.string().min(1),
  name: z.string(),
  role: z.enum(apiKeyRoles),
  allowedModels: z.array(z.string()).nullable(),
  rpm: limit,
  tpm: limit,
  tokenBudget: limit,
  region: z.string().nullable(),
  tokensUsed: z.number().int().min(0),
});

export const gatewayKeysResponseSchema = z.looseObject({
  object: z.literal('list'),
  builtAtMs: z.number(),
  data: z.array(gatewayKeyEntrySchema),
});

/** Parses a routes answer (from the control plane or a gateway's disk cache). Throws a ZodError. */
export function parseGatewayRoutes(value: unknown): GatewayRoutesResponse {
  return gatewayRoutesResponseSchema.parse(value) as GatewayRoutesResponse;
}

/** Parses a keys answer (from the control plane or a gateway's disk cache). Throws a ZodError. */
export function parseGatewayKeys(value: unknown): GatewayKeysResponse {
  return gatewayKeysResponseSchema.parse(value) as GatewayKeysResponse;
}

/**
 * `POST /api/v1/gateway/activate`: a per-room gateway has a request in flight for a deployment that
 * scales down while idle (scale to zero): the control plane records it and starts one scaled to zero.
 * Answered `{"object":"deployment_activation","deploymentId"}`; an unknown id → 404.
 */
export const gatewayActivateRequestSchema = z.strictObject({
  deploymentId: z.string().min(1).max(200),
});
