/**
 * `GET /api/v1/traffic?windowS=300&stepS=5[&site=ID|NAME][&model=NAME]` (admin key): the dashboard's
 * traffic charts from the usage ledger. The window ends at the last complete bucket (buckets are
 * aligned to multiples of `stepS` since the epoch) and holds ⌈windowS / stepS⌉ buckets.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { z } from 'zod';
import { parseWith } from '../../http/read-json-body.js';
import { sendJson } from '../../http/respond.js';
import { clipped, EdgeFleetError, methodNotAllowed } from '../../spec/edgefleet-error.js';
import type { Store } from '../../store/store.js';
import { ledgerSiteName } from './site-filter.js';
import { trafficSeries, type TrafficSeries } from './traffic-series.js';

export const maxTrafficWindowS = 86_400;
export const maxTrafficPoints = 1000;

const wholeSeconds = (max: number) =>
  z
    .string()
    .regex(/^\d+$/, 'expected a whole number of seconds')
    .transform(Number)
    .pipe(z.number().int().min(1).max(max));

export const trafficQuerySchema = z
  .strictObject({
    windowS: wholeSeconds(maxTrafficWindowS).default(300),
    stepS: wholeSeconds(maxTrafficWindowS).default(5),
    site: z.string().trim().min(1).max(256).optional(),
    model: z.string().trim().min(1).max(256).optional(),
  })
  .superRefine((q, ctx) => {
    const points = Math.ceil(q.windowS / q.stepS);
    if (points > maxTrafficPoints) {
      ctx.addIssue({
        code: 'custom',
        path: ['stepS'],
        message: `windowS / stepS gives ${points} points; at most ${maxTrafficPoints} (use stepS ≥ ${Math.ceil(q.windowS / maxTrafficPoints)})`,
      });
    }
  });

export interface TrafficReport {
  object: 'traffic';
  from: number;
  to: number;
  stepS: number;
  series: TrafficSeries[];
}

/** The traffic report for a query string, with the window ending at the last bucket complete at `nowMs`. */
export async function trafficReport(
  store: Store,
  params: URLSearchParams,
  nowMs: number,
): Promise<TrafficReport> {
  const repeated = [...new Set(params.keys())].find((name) => params.getAll(name).length > 1);
  if (repeated !== undefined) {
    throw new EdgeFleetError('invalid_request', `query parameter "${repeated}" is given more than once`, {
      param: repeated,
    });
  }
  const q = parseWith(trafficQuerySchema, Object.fromEntries(params));
  const stepMs = q.stepS * 1000;
  const buckets = Math.ceil(q.windowS / q.stepS);
  const toMs = Math.floor(nowMs / stepMs) * stepMs;
  const fromMs = toMs - buckets * stepMs;
  const siteName = await ledgerSiteName(store, q.site);
  const rows = await store.trafficBuckets({ fromMs, stepMs, buckets, siteName, model: q.model });
  return {
    object: 'traffic',
    from: fromMs,
    to: toMs,
    stepS: q.stepS,
    series: trafficSeries({ fromMs, stepMs, buckets }, rows),
  };
}

/** Handles `GET /api/v1/traffic`. */
export async function handleTraffic(
  store: Store,
  request: IncomingMessage,
  response: ServerResponse,
  rest: readonly string[],
  query: URLSearchParams,
  nowMs: number,
): Promise<void> {
  if (rest.length > 0) throw new EdgeFleetError('not_found', `no route ${clipped(request.url ?? '')}`);
  if ((request.method ?? 'GET') !== 'GET') {
    throw methodNotAllowed(request.method ?? '', request.url ?? '/api/v1/traffic', ['GET']);
  }
  sendJson(response, 200, await trafficReport(store, query, nowMs));
}
