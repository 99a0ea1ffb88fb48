/**
 * External endpoints under `/api/v1/endpoints` (admin key): OpenAI-compatible servers a team already
 * runs, registered so the gateway routes to them. Documented in docs/api.md, "External endpoints".
 */
import { z } from 'zod';

/**
 * A base URL as the gateway and the prober use it: http(s) only, no user or password in it, no query
 * or fragment, without a trailing `/` or `/v1` (`http://10.0.0.5:8000/v1/` → `http://10.0.0.5:8000`).
 */
export const endpointUrlSchema = z
  .string()
  .trim()
  .min(1)
  .max(2048)
  .transform((text, ctx) => {
    let url: URL;
    try {
      url = new URL(text);
    } catch {
      ctx.addIssue({ code: 'custom', message: 'not a URL; expected http(s)://host:port' });
      return z.NEVER;
    }
    const fail = (message: string) => {
      ctx.addIssue({ code: 'custom', message });
      return z.NEVER;
    };
    if (url.protocol !== 'http:' && url.protocol !== 'https:') return fail('only http and https URLs');
    if (url.username !== '' || url.password !== '') {
      return fail('credentials in the URL are not allowed; pass the key as apiKey');
    }
    if (url.search !== '' || url.hash !== '') return fail('a query or fragment is not allowed');
    const path = url.pathname.replace(/\/+$/, '').replace(/\/v1$/, '');
    return `${url.protocol}//${url.host}${path}`;
  });

/**
 * Sent upstream as `Authorization: Bearer <apiKey>`; stored, never shown again. Printable ASCII without
 * spaces, as API keys are: anything else could not be sent as a header (and a CR/LF would split it).
 */
const upstreamKey = z
  .string()
  .min(1)
  .max(4096)
  .regex(/^[\x21-\x7e]+$/, 'printable ASCII without spaces or line breaks only');

/**
 * The name the upstream serves the model under (vLLM's `--served-model-name`), when clients use another:
 * the gateway sends it as `model`. Absent: `model` itself.
 */
const upstreamModel = z.string().trim().min(1).max(256);

/** `POST /api/v1/endpoints`. The site is created when it does not exist yet. */
export const createEndpointRequestSchema = z.strictObject({
  /** The name clients put in `model`; may also be a deployment's name (both serve it). */
  model: z
    .string()
    .min(1)
    .max(128)
    .regex(/^[A-Za-z0-9][A-Za-z0-9._:/-]*$/, 'letters, digits and . _ : / - only'),
  url: endpointUrlSchema,
  site: z.string().trim().min(1).max(128),
  /** The site's region (clients of that region are routed there first); kept when not given. */
  region: z.string().trim().min(1).max(128).optional(),
  apiKey: upstreamKey.optional(),
  upstreamModel: upstreamModel.optional(),
});
export type CreateEndpointRequest = z.infer<typeof createEndpointRequestSchema>;

/**
 * `PATCH /api/v1/endpoints/:id`: a new upstream key (a rotated one) or upstream model name; `null` removes
 * it; what is not given stays. The model name, URL and site identify the endpoint: remove and add it again.
 */
export const updateEndpointRequestSchema = z
  .strictObject({
    apiKey: upstreamKey.nullable().optional(),
    upstreamModel: upstreamModel.nullable().optional(),
  })
  .refine((body) => Object.keys(body).length > 0, { message: 'give apiKey or upstreamModel' });
export type UpdateEndpointRequest = z.infer<typeof updateEndpointRequestSchema>;

/** What the API shows of an endpoint: whether it has an upstream key, never the key. */
export interface EndpointView {
  id: string;
  object: 'endpoint';
  model: string;
  url: string;
  site: string;
  siteId: string;
  hasApiKey: boolean;
  /** The name sent upstream as `model`, when it differs from `model`; else null. */
  upstreamModel: string | null;
  health: 'unknown' | 'healthy' | 'unhealthy';
  lastCheckAtMs: number | null;
  lastError: string | null;
  createdAtMs: number;
}

/** `DELETE /api/v1/endpoints/:id`. */
export interface DeleteEndpointResponse {
  id: string;
  object: 'endpoint';
  deleted: true;
}
