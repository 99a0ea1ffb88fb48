/**
 * `/api/v1/endpoints` (admin key): register, list, update (key, upstream model) and remove external
 * endpoints (OpenAI-compatible servers run outside EdgeFleet). The upstream API key is stored but never
 * answered back.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { parseWith, readJsonBody } from '../../http/read-json-body.js';
import { sendJson } from '../../http/respond.js';
import { clipped, EdgeFleetError, methodNotAllowed } from '../../spec/edgefleet-error.js';
import {
  createEndpointRequestSchema,
  updateEndpointRequestSchema,
  type DeleteEndpointResponse,
  type EndpointView,
} from '../../spec/endpoints-api.js';
import type { Store } from '../../store/store.js';
import type { Endpoint } from '../../store/store-types.js';

export interface EndpointRoutesContext {
  store: Store;
  maxBodyBytes: number;
  /** An endpoint was registered or changed: its health is checked at once (EndpointProber.checkNow). */
  endpointsChanged?: () => void;
}

/** The public view of a stored endpoint. */
export function toEndpointView(endpoint: Endpoint, siteName: string): EndpointView {
  return {
    id: endpoint.id,
    object: 'endpoint',
    model: endpoint.model,
    url: endpoint.url,
    site: siteName,
    siteId: endpoint.siteId,
    hasApiKey: endpoint.apiKey !== null,
    upstreamModel: endpoint.upstreamModel,
    health: endpoint.health,
    lastCheckAtMs: endpoint.lastCheckAtMs,
    lastError: endpoint.lastError,
    createdAtMs: endpoint.createdAtMs,
  };
}

function noEndpoint(id: string): EdgeFleetError {
  return new EdgeFleetError('not_found', `no endpoint "${clipped(id)}"`, { param: 'id' });
}

/** Handles `/api/v1/endpoints[/:id]`; `id` and `rest` are the path segments after `endpoints`. */
export async function handleEndpoints(
  ctx: EndpointRoutesContext,
  request: IncomingMessage,
  response: ServerResponse,
  id: string | undefined,
  rest: readonly string[],
): Promise<void> {
  const { store } = ctx;
  const method = request.method ?? 'GET';
  if (rest.length > 0) throw new EdgeFleetError('not_found', `no route ${clipped(request.url ?? '')}`);

  if (id === undefined && method === 'GET') {
    const [endpoints, sites] = await Promise.all([store.listEndpoints(), store.listSites()]);
    const siteNames = new Map(sites.map((s) => [s.id, s.name]));
    const data = endpoints.map((e) => toEndpointView(e, siteNames.get(e.siteId) ?? e.siteId));
    return sendJson(response, 200, { object: 'list', data });
  }
  if (id === undefined && method === 'POST') {
    const body = parseWith(createEndpointRequestSchema, await readJsonBody(request, ctx.maxBodyBytes));
    const endpoint = await store.withTransaction(async (tx) => {
      const site = await tx.upsertSite({ name: body.site, region: body.region ?? null });
      const taken = (await tx.listEndpoints()).find((e) => e.model === body.model && e.url === body.url);
      if (taken) {
        throw new EdgeFleetError(
          'conflict',
          `"${body.model}" is already registered at ${body.url} (${taken.id})`,
        );
      }
      return tx.createEndpoint({
        model: body.model,
        url: body.url,
        siteId: site.id,
        apiKey: body.apiKey ?? null,
        upstreamModel: body.upstreamModel ?? null,
      });
    });
    ctx.endpointsChanged?.();
    return sendJson(response, 201, toEndpointView(endpoint, body.site));
  }
  if (id !== undefined && (method === 'GET' || method === 'PATCH')) {
    const endpoint =
      method === 'GET'
        ? await store.getEndpoint(id)
        : await store.updateEndpoint(
            id,
            parseWith(updateEndpointRequestSchema, await readJsonBody(request, ctx.maxBodyBytes)),
          );
    if (!endpoint) throw noEndpoint(id);
    if (method === 'PATCH') ctx.endpointsChanged?.();
    const site = await store.getSite(endpoint.siteId);
    return sendJson(response, 200, toEndpointView(endpoint, site?.name ?? endpoint.siteId));
  }
  if (id !== undefined && method === 'DELETE') {
    if (!(await store.deleteEndpoint(id))) throw noEndpoint(id);
    const deleted: DeleteEndpointResponse = { id, object: 'endpoint', deleted: true };
    return sendJson(response, 200, deleted);
  }
  throw methodNotAllowed(
    method,
    request.url ?? '/api/v1/endpoints',
    id === undefined ? ['GET', 'POST'] : ['GET', 'PATCH', 'DELETE'],
  );
}
