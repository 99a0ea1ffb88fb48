/**
 * What a key is shown of the route table: the `/v1/models` answers (only the models it may use), and
 * the 404 for a model that is not served, naming those that are (and that the key may use).
 */
import type { KeyPrincipal } from '../spec/api-keys.js';
import { clipped, EdgeFleetError } from '../spec/edgefleet-error.js';
import type { RouteModel, RouteTable } from '../spec/route-table.js';
import { allowsModel } from './auth/key-guard.js';
import { decodeModelId } from './inference-request.js';

/** The body of `GET /v1/models` or `GET /v1/models/{id}` (`path`) for `principal`. */
export function modelsAnswer(table: RouteTable, path: string, principal: KeyPrincipal): unknown {
  const visible = table.models.filter((m) => allowsModel(principal, m.name));
  if (path === '/v1/models') return { object: 'list', data: visible.map(asModel) };
  const id = decodeModelId(path.slice('/v1/models/'.length));
  const found = visible.find((m) => m.name === id);
  if (!found)
    throw new EdgeFleetError('model_not_found', `the model "${clipped(id)}" does not exist`, {
      param: 'model',
    });
  return asModel(found);
}

function asModel(m: RouteModel) {
  return {
    id: m.name,
    object: 'model',
    created: Math.floor(m.createdAtMs / 1000),
    owned_by: 'edgefleet',
    meta: {
      status: m.status,
      instances: m.instances.length,
      sites: [...new Set(m.instances.map((i) => i.siteName))],
      ...m.meta,
    },
  };
}

/** 404 for a model not in the route table, naming (up to 20 of) those that are. */
export function modelNotFound(name: string, available: string[]): EdgeFleetError {
  return new EdgeFleetError(
    'model_not_found',
    `the model "${clipped(name)}" does not exist${available.length > 0 ? `; available: ${available.slice(0, 20).join(', ')}` : ''}`,
    { param: 'model', data: { model: name, available } },
  );
}

/** A model_not_found told to a key with an allow-list names only the models that key may use. */
export function notFoundFor(principal: KeyPrincipal, error: unknown): unknown {
  if (!(error instanceof EdgeFleetError) || error.code !== 'model_not_found') return error;
  const { model, available } = error.data;
  if (typeof model !== 'string' || !Array.isArray(available)) return error;
  return modelNotFound(
    model,
    available.filter((name): name is string => typeof name === 'string' && allowsModel(principal, name)),
  );
}
