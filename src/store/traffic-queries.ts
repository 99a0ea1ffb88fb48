/**
 * Traffic over time from the usage ledger: requests, errors and completion tokens per fixed-width
 * bucket, and nearest-rank p50/p99 of TTFT and TPOT, per site and model and for the whole fleet. The
 * percentiles are computed in the database with window functions (portable to SQLite ≥ 3.25 and
 * PostgreSQL), so only one row per bucket and group comes back, however many requests there were.
 */
import { z } from 'zod';
import { EdgeFleetError } from '../spec/edgefleet-error.js';
import type { SqlContext, SqlValue } from './sql-driver.js';
import type { Store } from './store.js';
import type { TrafficBucket, TrafficQuery } from './store-types.js';
import { failedRecordSql } from './usage-queries.js';

type TrafficQueries = Pick<Store, 'trafficBuckets'>;

/** TPOT of one request; only for requests with more than one output token and both timings. */
const tpotSql = '(duration_ms - ttft_ms) / (completion_tokens - 1)';
const tpotWhere = 'completion_tokens > 1 AND ttft_ms IS NOT NULL AND duration_ms IS NOT NULL';

const num = z.coerce.number();
const nullableNum = z.null().or(z.coerce.number());
const countsRow = z.object({
  b: num,
  site_name: z.string().nullable().optional(),
  model: z.string().nullable().optional(),
  requests: num,
  errors: nullableNum,
  completion_tokens: nullableNum,
});
const percentileRow = z.object({
  b: num,
  site_name: z.string().nullable().optional(),
  model: z.string().nullable().optional(),
  p50: nullableNum,
  p99: nullableNum,
});

function integerLiteral(value: number, name: string): string {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new EdgeFleetError('invalid_request', `${name} must be a non-negative integer, got ${value}`);
  }
  return String(value);
}

export function trafficQueries({ db }: SqlContext): TrafficQueries {
  return {
    async trafficBuckets(query: TrafficQuery) {
      if (query.stepMs < 1 || query.buckets < 1) {
        throw new EdgeFleetError('invalid_request', 'stepMs and buckets must be at least 1');
      }
      // Validated integers inlined as literals: integer arithmetic (bucket index) in both databases.
      const from = integerLiteral(query.fromMs, 'fromMs');
      const step = integerLiteral(query.stepMs, 'stepMs');
      const to = integerLiteral(query.fromMs + query.stepMs * query.buckets, 'toMs');
      const params: SqlValue[] = [];
      const where = [`at_ms >= ${from}`, `at_ms < ${to}`];
      for (const [column, value] of [
        ['site_name', query.siteName],
        ['model', query.model],
      ] as const) {
        if (value === undefined) continue;
        params.push(value);
        where.push(`${column} = $${params.length}`);
      }
      const bucket = `(at_ms - ${from}) / ${step}`;
      const filtered = (extra: string, value: string) =>
        `SELECT ${bucket} AS b, site_name, model, ${value} AS v
         FROM usage_records WHERE ${[...where, extra].join(' AND ')}`;

      const counts = async (byGroup: boolean) => {
        const keys = byGroup ? 'b, site_name, model' : 'b';
        const rows = await db.query(
          `SELECT ${keys}, COUNT(*) AS requests,
             SUM(failed) AS errors,
             SUM(completion_tokens) AS completion_tokens
           FROM (SELECT ${bucket} AS b, site_name, model,
                   CASE WHEN ${failedRecordSql} THEN 1 ELSE 0 END AS failed, completion_tokens
                 FROM usage_records WHERE ${where.join(' AND ')}) t
           GROUP BY ${keys}`,
          params,
        );
        return rows.map((row) => countsRow.parse(row));
      };
      // Nearest rank: p50 is the ⌈n/2⌉-th smallest, p99 the ⌈0.99·n⌉-th (integer division rounds down).
      const percentiles = async (byGroup: boolean, extra: string, value: string) => {
        const keys = byGroup ? 'b, site_name, model' : 'b';
        const rows = await db.query(
          `SELECT ${keys},
             MAX(CASE WHEN rn = (n + 1) / 2 THEN v END) AS p50,
             MAX(CASE WHEN rn = (99 * n + 99) / 100 THEN v END) AS p99
           FROM (SELECT ${keys}, v,
                   ROW_NUMBER() OVER (PARTITION BY ${keys} ORDER BY v) AS rn,
                   COUNT(*) OVER (PARTITION BY ${keys}) AS n
                 FROM (${filtered(extra, value)}) t) r
           GROUP BY ${keys}`,
          params,
        );
        return rows.map((row) => percentileRow.parse(row));
      };

      const assemble = async (byGroup: boolean): Promise<TrafficBucket[]> => {
        const [countRows, ttftRows, tpotRows] = await Promise.all([
          counts(byGroup),
          percentiles(byGroup, 'ttft_ms IS NOT NULL', 'ttft_ms'),
          percentiles(byGroup, tpotWhere, tpotSql),
        ]);
        const key = (r: { b: number; site_name?: string | null; model?: string | null }) =>
          JSON.stringify([r.b, r.site_name ?? null, r.model ?? null]);
        const ttft = new Map(ttftRows.map((r) => [key(r), r]));
        const tpot = new Map(tpotRows.map((r) => [key(r), r]));
        return countRows
          .map((r) => ({
            bucket: r.b,
            siteName: r.site_name ?? null,
            model: r.model ?? null,
            requests: r.requests,
            errors: r.errors ?? 0,
            completionTokens: r.completion_tokens ?? 0,
            ttftP50Ms: ttft.get(key(r))?.p50 ?? null,
            ttftP99Ms: ttft.get(key(r))?.p99 ?? null,
            tpotP50Ms: tpot.get(key(r))?.p50 ?? null,
            tpotP99Ms: tpot.get(key(r))?.p99 ?? null,
          }))
          .sort(
            (a, b) =>
              a.bucket - b.bucket ||
              (a.siteName ?? '').localeCompare(b.siteName ?? '') ||
              (a.model ?? '').localeCompare(b.model ?? ''),
          );
      };
      const [groups, fleet] = [await assemble(true), await assemble(false)];
      return { groups, fleet };
    },
  };
}
