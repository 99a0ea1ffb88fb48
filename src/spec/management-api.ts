/**
 * The management HTTP API under `/api/v1` (admin key required): request schemas and response shapes.
 * Documented in docs/api.md, section "Management API".
 */
import { z } from 'zod';

/** The most replicas one deployment may have. */
export const maxReplicas = 64;
/** The longest a deployment may stay idle before scaling down: 30 days, in seconds. */
export const maxIdleTimeoutS = 30 * 86_400;
/** Bounds of a deployment's context per stream (tokens). */
export const minContextTokens = 32;
export const maxContextTokens = 1_048_576;

/** `POST /api/v1/deployments`. `model`: a catalog id, a GGUF path, an http(s) URL or an `hf:` reference. */
export const createDeploymentRequestSchema = z
  .strictObject({
    name: z
      .string()
      .min(1)
      .max(128)
      .regex(/^[A-Za-z0-9][A-Za-z0-9._:/-]*$/, 'letters, digits and . _ : / - only'),
    model: z.string().min(1).max(2048),
    quant: z.string().min(1).max(64).optional(),
    engine: z.string().min(1).max(64).optional(),
    replicas: z.number().int().min(1).max(maxReplicas),
    /** Site names or ids the deployment may run in; omitted or empty means anywhere. */
    sites: z.array(z.string().min(1).max(128)).max(64).optional(),
    /**
     * Replicas kept while idle (default: `replicas`, never scaled down); 0 scales to zero: the next
     * request starts it again.
     */
    minReplicas: z.number().int().min(0).max(maxReplicas).optional(),
    /** Seconds without a request after which it scales down to `minReplicas` (default 600). */
    idleTimeoutS: z.number().int().min(1).max(maxIdleTimeoutS).optional(),
    /**
     * Context tokens per stream its instances run with (vLLM's `--max-model-len`, llama.cpp's `-c` per
     * slot); default: the control plane's `--context`. At most what the model was trained for.
     */
    contextTokens: z.number().int().min(minContextTokens).max(maxContextTokens).optional(),
  })
  .refine((body) => body.minReplicas === undefined || body.minReplicas <= body.replicas, {
    message: 'minReplicas must not exceed replicas',
    path: ['minReplicas'],
  });
export type CreateDeploymentRequest = z.infer<typeof createDeploymentRequestSchema>;

/**
 * `PATCH /api/v1/deployments/:id`: change a deployment in place; what is not given stays. Scaling
 * (`replicas`, `minReplicas`, `idleTimeoutS`) takes effect at once; `minReplicas` must not exceed the
 * replicas it will have. A change to what runs (`model`, `quant`, `engine`, `contextTokens`, `sites`)
 * starts a rolling update: the deployment's `revision` goes up and its instances are replaced (reconciler.ts).
 * `null` returns `quant`, `engine` and `contextTokens` to their defaults; `sites: []` means anywhere.
 */
export const updateDeploymentRequestSchema = z
  .strictObject({
    replicas: z.number().int().min(1).max(maxReplicas).optional(),
    minReplicas: z.number().int().min(0).max(maxReplicas).optional(),
    idleTimeoutS: z.number().int().min(1).max(maxIdleTimeoutS).optional(),
    model: z.string().min(1).max(2048).optional(),
    quant: z.string().min(1).max(64).nullable().optional(),
    engine: z.string().min(1).max(64).nullable().optional(),
    contextTokens: z.number().int().min(minContextTokens).max(maxContextTokens).nullable().optional(),
    sites: z.array(z.string().min(1).max(128)).max(64).optional(),
  })
  .refine((body) => Object.keys(body).length > 0, {
    message: 'give replicas, minReplicas, idleTimeoutS, model, quant, engine, contextTokens or sites',
  });
export type UpdateDeploymentRequest = z.infer<typeof updateDeploymentRequestSchema>;

/** `GET /api/v1/instances?deployment=ID`. */
export const listInstancesQuerySchema = z.strictObject({
  deployment: z.string().min(1).optional(),
});

/** One list response: `{ object: "list", data: [...] }`. */
export interface ListResponse<T> {
  object: 'list';
  data: T[];
}

/**
 * `PATCH /api/v1/nodes/:id`: `cordoned` places nothing new on the node; `draining` also moves its instances
 * to other nodes (each retired once its replacement serves); null returns it to scheduling.
 */
export const nodeMaintenanceSchema = z.enum(['cordoned', 'draining']);
export type NodeMaintenance = z.infer<typeof nodeMaintenanceSchema>;
export const updateNodeRequestSchema = z.strictObject({
  maintenance: nodeMaintenanceSchema.nullable(),
});
export type UpdateNodeRequest = z.infer<typeof updateNodeRequestSchema>;

/** `DELETE /api/v1/nodes/:id`: the node's credential is revoked and its instances are removed. */
export interface RevokeNodeResponse {
  id: string;
  object: 'node';
  deleted: true;
  revokedAtMs: number;
  /** Instances that were on the node; the reconciler places them on other nodes. */
  instancesRemoved: string[];
}

/** The scheme of a model given as a URL (`https`, `ftp`…), lower-cased; undefined for anything else. */
export function modelUrlScheme(model: string): string | undefined {
  return /^([a-z][a-z0-9+.-]*):\/\//i.exec(model)?.[1]?.toLowerCase();
}

/** A GGUF path relative to a directory the control plane and the workers cannot know (`./m.gguf`, `m.gguf`). */
export function isRelativeModelPath(model: string): boolean {
  return (
    !model.startsWith('hf:') &&
    modelUrlScheme(model) === undefined &&
    !model.startsWith('/') &&
    (model.startsWith('./') || model.startsWith('../') || /\.gguf$/i.test(model))
  );
}

/** True when `model` is not a catalog id but a file, URL or Hugging Face reference. */
export function isModelReference(model: string): boolean {
  return (
    model.startsWith('hf:') ||
    /^https?:\/\//.test(model) ||
    model.startsWith('/') ||
    model.startsWith('./') ||
    model.startsWith('../') ||
    /\.gguf$/i.test(model)
  );
}
