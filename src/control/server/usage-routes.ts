/**
 * `/api/v1/usage` (admin key): the usage report (`GET`, grouped by key, model, site, the gateway's room
 * and time bucket)
 * and `POST /api/v1/usage/events`, where a standalone gateway ships its journaled usage events.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { parseWith, readJsonBody } from '../../http/read-json-body.js';
import { sendJson } from '../../http/respond.js';
import { clipped, EdgeFleetError, methodNotAllowed } from '../../spec/edgefleet-error.js';
import {
  postUsageEventsRequestSchema,
  usageQuerySchema,
  type PostUsageEventsResponse,
  type UsageReport,
} from '../../spec/usage-api.js';
import type { Store } from '../../store/store.js';
import { ledgerSiteName } from './site-filter.js';
import { toUsageRecord } from './usage-sink.js';

export interface UsageRoutesContext {
  store: Store;
  maxBodyBytes: number;
}

/** Handles `/api/v1/usage[/events]`; `rest` are the path segments after `usage`. */
export async function handleUsage(
  ctx: UsageRoutesContext,
  request: IncomingMessage,
  response: ServerResponse,
  rest: readonly string[],
  query: URLSearchParams,
): Promise<void> {
  const method = request.method ?? 'GET';
  if (rest.length === 0 && method === 'GET')
    return sendJson(response, 200, await usageReport(ctx.store, query));
  if (rest.length === 1 && rest[0] === 'events' && method === 'POST') {
    const body = parseWith(postUsageEventsRequestSchema, await readJsonBody(request, ctx.maxBodyBytes));
    // A gateway started with its site's id (`--site` takes either) records the id: the ledger keeps names.
    const names = new Map((await ctx.store.listSites()).map((s) => [s.id, s.name]));
    const records = body.events.map((event) => {
      const record = toUsageRecord(event);
      const site = record.gatewaySite;
      return site == null ? record : { ...record, gatewaySite: names.get(site) ?? site };
    });
    const stored = await ctx.store.appendUsage(records);
    // A key used only through room gateways is never looked up here: its use is known by its records
    // (not later than now: a gateway's clock running ahead must not set it in the future for good).
    const lastUse = new Map<string, number>();
    const nowMs = Date.now();
    for (const { keyId, atMs } of body.events) {
      lastUse.set(keyId, Math.min(nowMs, Math.max(atMs, lastUse.get(keyId) ?? 0)));
    }
    // A failure answers 500 and the gateway ships again: the records are stored once, by id.
    await Promise.all([...lastUse].map(([keyId, atMs]) => ctx.store.touchApiKey(keyId, atMs)));
    const answer: PostUsageEventsResponse = { object: 'usage_events', received: body.events.length, stored };
    return sendJson(response, 200, answer);
  }
  if (rest.length === 0) throw methodNotAllowed(method, request.url ?? '/api/v1/usage', ['GET']);
  if (rest.length === 1 && rest[0] === 'events') {
    throw methodNotAllowed(method, request.url ?? '/api/v1/usage/events', ['POST']);
  }
  throw new EdgeFleetError('not_found', `no route ${clipped(request.url ?? '')}`);
}

/** The most rows one usage report answers. */
export const maxUsageRows = 10_000;

async function usageReport(store: Store, params: URLSearchParams): Promise<UsageReport> {
  const repeated = [...new Set(params.keys())].find((name) => params.getAll(name).length > 1);
  if (repeated !== undefined) {
    throw new EdgeFleetError('invalid_request', `query parameter "${repeated}" is given more than once`, {
      param: repeated,
    });
  }
  const q = parseWith(usageQuerySchema, Object.fromEntries(params));
  const keys = await store.listApiKeys();
  // `key` is a key id, or else a name: every key of that name (one revoked and made again, say); one
  // that is neither (`anonymous`, the key id of requests where no key is needed) is taken as an id.
  const named = keys.filter((k) => k.name === q.key).map((k) => k.id);
  const keyIds =
    q.key === undefined
      ? undefined
      : keys.some((k) => k.id === q.key) || named.length === 0
        ? [q.key]
        : named;
  const names = new Map(keys.map((k) => [k.id, k.name]));
  const rows = await store.aggregateUsage({
    fromMs: q.fromMs,
    toMs: q.toMs,
    groupBy: q.groupBy,
    bucket: q.bucket,
    keyIds,
    model: q.model,
    siteName: await ledgerSiteName(store, q.site),
    gatewaySite: await ledgerSiteName(store, q.gateway),
    limit: maxUsageRows + 1,
  });
  if (rows.length > maxUsageRows) {
    throw new EdgeFleetError(
      'invalid_request',
      `the report has more than ${maxUsageRows} rows: use a coarser bucket, fewer group_by fields, ` +
        'a filter or a shorter range',
    );
  }
  return {
    object: 'list',
    data: rows.map((r) => ({
      key_id: r.keyId,
      key_name: r.keyId === null ? null : (names.get(r.keyId) ?? null),
      model: r.model,
      site: r.siteName,
      gateway: r.gatewaySite,
      bucket_start: r.bucketStartMs === null ? null : new Date(r.bucketStartMs).toISOString(),
      requests: r.requests,
      errors: r.errors,
      prompt_tokens: r.promptTokens,
      completion_tokens: r.completionTokens,
      mean_ttft_ms: r.meanTtftMs === null ? null : Math.round(r.meanTtftMs * 10) / 10,
      mean_duration_ms: r.meanDurationMs === null ? null : Math.round(r.meanDurationMs * 10) / 10,
    })),
    from: new Date(q.fromMs).toISOString(),
    to: new Date(q.toMs).toISOString(),
    group_by: q.groupBy,
    bucket: q.bucket ?? null,
  };
}
