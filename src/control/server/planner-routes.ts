/**
 * The dashboard's planner API: `GET /api/v1/catalog` (the built-in models, quantizations, engines and
 * devices), `POST /api/v1/planner/estimate` (one configuration, the JSON `edgefleet estimate --json`
 * prints) and `POST /api/v1/planner/recommend` (ranked configurations for some devices). The server
 * answers from the planner's roofline alone: measurements stored by `edgefleet calibrate` live in a
 * CLI user's home, not on the control plane.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { z } from 'zod';
import { engineCatalog } from '../../catalog/engines/engine-catalog.js';
import { findHardware, hardwareCatalog } from '../../catalog/hardware/hardware-catalog.js';
import { modelCatalog } from '../../catalog/models/model-catalog.js';
import { quantizationCatalog } from '../../catalog/quantizations/quantization-catalog.js';
import { parseWith, readJsonBody } from '../../http/read-json-body.js';
import { sendJson } from '../../http/respond.js';
import { estimate, type Estimate } from '../../planner/estimate.js';
import { inputFromIds, type EstimateRequest } from '../../planner/estimate-input.js';
import { modelParameters } from '../../planner/model-parameters.js';
import { recommend, type Recommendation } from '../../planner/recommend.js';
import { EdgeFleetError, methodNotAllowed } from '../../spec/edgefleet-error.js';

const id = z.string().min(1).max(128);
const count = z.number().int().min(1).max(1024);
const tokens = z.number().int().min(1).max(10_000_000);

export const estimateBodySchema = z.strictObject({
  model: id,
  quant: id,
  engine: id,
  hardware: id,
  count: count.optional(),
  batch: z.number().int().min(1).max(65_536).optional(),
  contextTokens: tokens.optional(),
  promptTokens: z.number().int().min(0).max(10_000_000).optional(),
  outputTokens: tokens.optional(),
});

export const recommendBodySchema = z.strictObject({
  hardware: id,
  count,
  users: z.number().int().min(1).max(1_000_000).optional(),
  sloTtftMs: z.number().positive().max(3_600_000).optional(),
  sloTpotMs: z.number().positive().max(3_600_000).optional(),
  contextTokens: tokens.optional(),
  promptTokens: z.number().int().min(0).max(10_000_000).optional(),
  outputTokens: tokens.optional(),
  /** Every instance size of each model × quant × engine (default: the best-ranked one of each, like the CLI). */
  all: z.boolean().optional(),
  /** At most this many rows (default and maximum 50). */
  limit: z.number().int().min(1).max(50).optional(),
});

/** The catalog as the dashboard shows it: ids and names, plus the few numbers its forms need. */
export function catalogBody() {
  return {
    object: 'catalog' as const,
    models: modelCatalog.map((model) => {
      const params = modelParameters(model);
      return {
        id: model.id,
        name: model.name,
        paramsB: Number((params.totalParams / 1e9).toFixed(2)),
        activeParamsB: Number((params.activeParams / 1e9).toFixed(2)),
        contextTokens: model.contextLength,
      };
    }),
    quantizations: quantizationCatalog.map((q) => ({ id: q.id, name: q.name })),
    engines: engineCatalog.map((e) => ({ id: e.id, name: e.name })),
    hardware: hardwareCatalog.map((h) => ({
      id: h.id,
      name: h.name,
      vendor: h.vendor,
      kind: h.kind,
      memoryBytes: h.memoryBytes,
      pricePerHourUsd: h.pricePerHourUsd,
    })),
  };
}

/** A catalog lookup's `invalid_argument` (it lists the valid ids) as this API's `invalid_request`. */
function asInvalidRequest<T>(run: () => T): T {
  try {
    return run();
  } catch (error) {
    if (error instanceof EdgeFleetError && error.code === 'invalid_argument') {
      throw new EdgeFleetError('invalid_request', error.message, {
        param: error.param,
        data: { ...error.data },
      });
    }
    throw error;
  }
}

/** The planner's estimate for a request by catalog ids (unknown ids: 400 listing the valid ones). */
export function estimateFor(request: EstimateRequest): Estimate {
  return estimate(asInvalidRequest(() => inputFromIds(request)));
}

/** Keeps the best-ranked instance size of each model × quant × engine (what `edgefleet recommend` shows). */
function bestPerCombination(rows: Recommendation[]): Recommendation[] {
  const seen = new Set<string>();
  return rows.filter((row) => {
    const key = `${row.model}|${row.quant}|${row.engine}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/**
 * Handles `catalog` and `planner/{estimate,recommend}`; `segments` is the path after `/api/v1/`.
 * Returns false for any other path.
 */
export async function handlePlanner(
  maxBodyBytes: number,
  request: IncomingMessage,
  response: ServerResponse,
  segments: readonly string[],
): Promise<boolean> {
  const method = request.method ?? 'GET';
  const path = segments.join('/');
  const only = (allowed: string): void => {
    if (method !== allowed) throw methodNotAllowed(method, `/api/v1/${path}`, [allowed]);
  };
  if (path === 'catalog') {
    only('GET');
    sendJson(response, 200, catalogBody());
    return true;
  }
  if (path === 'planner/estimate') {
    only('POST');
    const body = parseWith(estimateBodySchema, await readJsonBody(request, maxBodyBytes));
    sendJson(response, 200, estimateFor(body));
    return true;
  }
  if (path === 'planner/recommend') {
    only('POST');
    const { hardware, all, limit, ...rest } = parseWith(
      recommendBodySchema,
      await readJsonBody(request, maxBodyBytes),
    );
    const rows = recommend({ ...rest, hardware: asInvalidRequest(() => findHardware(hardware)) });
    const data = (all ? rows : bestPerCombination(rows)).slice(0, limit ?? 50);
    sendJson(response, 200, { object: 'list', data });
    return true;
  }
  return false;
}
