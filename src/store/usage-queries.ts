/**
 * The usage ledger: one row per metered request (the gateway's UsageEvent), appended idempotently by
 * id, summed per key for budgets and aggregated by key, model, site and time bucket for reports.
 */
import { randomUUID } from 'node:crypto';
import type { SqlContext, SqlValue } from './sql-driver.js';
import type { Store } from './store.js';
import { toUsageAggregate, toUsageSummary } from './store-rows.js';
import type { UsageBucket, UsageGroupField } from './store-types.js';

/**
 * A usage record that counts as an error, in SQL over `usage_records`: an error answer, or a stream that
 * broke after its first byte (its status was 200). A client that left is none: `aborted` with status
 * 499 when it left before any instance answered, else with the status the instance answered.
 */
export const failedRecordSql = `(outcome = 'broken' OR (status >= 400 AND status <> 499 AND outcome <> 'aborted'))`;

type UsageQueries = Pick<Store, 'appendUsage' | 'sumUsage' | 'totalTokensForKey' | 'aggregateUsage'>;

const usageColumns = [
  'id',
  'key_id',
  'model',
  'prompt_tokens',
  'completion_tokens',
  'at_ms',
  'site_name',
  'gateway_site',
  'instance_id',
  'route',
  'ttft_ms',
  'duration_ms',
  'status',
  'outcome',
  'usage_estimated',
] as const;

/** Rows per INSERT: 15 values each stays far below SQLite's and PostgreSQL's parameter limits. */
const usageBatchRows = 100;

export const usageBucketMs: Readonly<Record<UsageBucket, number>> = {
  minute: 60_000,
  hour: 3_600_000,
  day: 86_400_000,
};

/** Grouping fields → their column; fixed here so no caller text reaches the SQL. */
const groupColumns: Readonly<Record<UsageGroupField, string>> = {
  key: 'key_id',
  model: 'model',
  site: 'site_name',
  gateway: 'gateway_site',
};

export function usageQueries({ db, atomically }: SqlContext): UsageQueries {
  return {
    async appendUsage(records) {
      if (records.length === 0) return 0;
      return atomically(async (tx) => {
        let stored = 0;
        for (let start = 0; start < records.length; start += usageBatchRows) {
          const batch = records.slice(start, start + usageBatchRows);
          const values = batch.map((_, row) => {
            const base = row * usageColumns.length;
            return `(${usageColumns.map((_, column) => `$${base + column + 1}`).join(', ')})`;
          });
          stored += await tx.run(
            `INSERT INTO usage_records (${usageColumns.join(', ')})
             VALUES ${values.join(', ')}
             ON CONFLICT (id) DO NOTHING`,
            batch.flatMap((r): SqlValue[] => [
              r.id ?? randomUUID(),
              r.keyId,
              r.model,
              r.promptTokens,
              r.completionTokens,
              r.atMs,
              r.siteName ?? null,
              r.gatewaySite ?? null,
              r.instanceId ?? null,
              r.route ?? '',
              r.ttftMs ?? null,
              r.durationMs ?? null,
              r.status ?? 200,
              r.outcome ?? 'ok',
              r.usageEstimated === true ? 1 : 0,
            ]),
          );
        }
        return stored;
      });
    },
    async sumUsage(query) {
      const params: (string | number)[] = [query.fromMs, query.toMs];
      const where = ['at_ms >= $1', 'at_ms < $2'];
      if (query.keyId !== undefined) {
        params.push(query.keyId);
        where.push(`key_id = $${params.length}`);
      }
      if (query.model !== undefined) {
        params.push(query.model);
        where.push(`model = $${params.length}`);
      }
      const rows = await db.query(
        `SELECT key_id, model, COUNT(*) AS requests, SUM(prompt_tokens) AS prompt_tokens,
           SUM(completion_tokens) AS completion_tokens
         FROM usage_records WHERE ${where.join(' AND ')}
         GROUP BY key_id, model ORDER BY key_id, model`,
        params,
      );
      return rows.map(toUsageSummary);
    },
    async totalTokensForKey(keyId) {
      const rows = await db.query(
        `SELECT COALESCE(SUM(prompt_tokens + completion_tokens), 0) AS total
         FROM usage_records WHERE key_id = $1`,
        [keyId],
      );
      return Number(rows[0]?.['total'] ?? 0);
    },
    async aggregateUsage(query) {
      const params: SqlValue[] = [query.fromMs, query.toMs];
      const where = ['at_ms >= $1', 'at_ms < $2'];
      if (query.keyIds !== undefined) {
        if (query.keyIds.length === 0) return [];
        const placeholders = query.keyIds.map((id) => (params.push(id), `$${params.length}`));
        where.push(`key_id IN (${placeholders.join(', ')})`);
      }
      const filters: [string, string | undefined][] = [
        ['model', query.model],
        ['site_name', query.siteName],
        ['gateway_site', query.gatewaySite],
      ];
      for (const [column, value] of filters) {
        if (value === undefined) continue;
        params.push(value);
        where.push(`${column} = $${params.length}`);
      }
      const groups: string[] = [];
      const selected: string[] = [];
      // NULL sites sort last in both databases (their defaults differ).
      const order: string[] = [];
      if (query.bucket !== undefined) {
        // An integer literal from the fixed table: integer arithmetic in both databases.
        const bucketMs = usageBucketMs[query.bucket];
        selected.push(`at_ms - (at_ms % ${bucketMs}) AS bucket_start_ms`);
        groups.push(`at_ms - (at_ms % ${bucketMs})`);
        order.push(`at_ms - (at_ms % ${bucketMs})`);
      }
      for (const field of ['key', 'model', 'gateway', 'site'] as const) {
        if (!query.groupBy.includes(field)) continue;
        const column = groupColumns[field];
        selected.push(column);
        groups.push(column);
        order.push(`${column} IS NULL`, column);
      }
      const rows = await db.query(
        `SELECT ${[...selected, ''].join(', ')}
           COUNT(*) AS requests,
           SUM(CASE WHEN ${failedRecordSql} THEN 1 ELSE 0 END) AS errors,
           SUM(prompt_tokens) AS prompt_tokens,
           SUM(completion_tokens) AS completion_tokens,
           AVG(ttft_ms) AS mean_ttft_ms,
           AVG(duration_ms) AS mean_duration_ms
         FROM usage_records WHERE ${where.join(' AND ')}
         ${groups.length > 0 ? `GROUP BY ${groups.join(', ')} ORDER BY ${order.join(', ')}` : ''}
         ${query.limit !== undefined ? `LIMIT ${Math.max(0, Math.floor(query.limit))}` : ''}`,
        params,
      );
      // Without grouping, an empty range still yields one row of zeros: report no rows instead.
      return rows.map(toUsageAggregate).filter((row) => row.requests > 0);
    },
  };
}
