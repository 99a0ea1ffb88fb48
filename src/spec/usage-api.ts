/**
 * The usage ledger API under `/api/v1/usage` (admin key): the report query, the rows it answers, and
 * the batch of usage events a standalone gateway ships. Documented in docs/api.md, section "Usage".
 */
import { z } from 'zod';
import { usageEventSchema } from './usage-event.js';

export const usageGroupFields = ['key', 'model', 'site', 'gateway'] as const;
export const usageBuckets = ['minute', 'hour', 'day'] as const;
export const defaultUsageWindowMs = 24 * 3_600_000;

/** The latest time a JavaScript Date holds (year 275760). */
const maxInstantMs = 8.64e15;
/** `2026-11-30`, `2026-11-30T08:00`, `…:00:00`, `…:00:00.123`, each optionally with `Z` or `±hh:mm`. */
const iso8601 = /^\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:?\d{2})?)?$/i;

/**
 * An ISO 8601 time (a date alone is UTC midnight; a date and time without an offset is the server's
 * local time, as JavaScript reads them) or epoch
 * milliseconds → epoch milliseconds; null for anything else, including the looser formats `Date.parse`
 * takes (`1/2/2026`, `-5`) and times a Date cannot hold.
 */
export function parseInstant(text: string): number | null {
  const trimmed = text.trim();
  const ms = /^\d{1,16}$/.test(trimmed) ? Number(trimmed) : iso8601.test(trimmed) ? Date.parse(trimmed) : NaN;
  if (!Number.isSafeInteger(ms) || ms < 0 || ms > maxInstantMs) return null;
  if (iso8601.test(trimmed)) {
    // Date.parse rolls 2026-02-30 over to March 2: the day must exist in its month.
    const [year, month, day] = trimmed.slice(0, 10).split('-').map(Number) as [number, number, number];
    if (new Date(Date.UTC(year, month - 1, day)).getUTCDate() !== day) return null;
  }
  return ms;
}

const instant = z
  .string()
  .trim()
  .min(1)
  .transform((text, ctx) => {
    const ms = parseInstant(text);
    if (ms === null) {
      ctx.addIssue({
        code: 'custom',
        message: 'expected an ISO 8601 time (2026-11-30T08:00:00Z) or epoch milliseconds',
      });
      return z.NEVER;
    }
    return ms;
  });

const optionalName = z.string().trim().min(1).max(256).optional();

/**
 * `GET /api/v1/usage` query parameters. `group_by` is a comma list (default `key,model`; empty for one
 * total); `from`/`to` default to the last 24 hours; `key` is a key id or name.
 */
export const usageQuerySchema = z
  .strictObject({
    group_by: z
      .string()
      .default('key,model')
      .transform((text) => [
        ...new Set(
          text
            .split(',')
            .map((f) => f.trim())
            .filter((f) => f !== ''),
        ),
      ])
      .pipe(z.array(z.enum(usageGroupFields))),
    bucket: z.enum(usageBuckets).optional(),
    from: instant.optional(),
    to: instant.optional(),
    key: optionalName,
    model: optionalName,
    site: optionalName,
    gateway: optionalName,
  })
  .transform((q, ctx) => {
    const toMs = q.to ?? Date.now();
    const fromMs = q.from ?? toMs - defaultUsageWindowMs;
    if (fromMs >= toMs) {
      ctx.addIssue({ code: 'custom', path: ['from'], message: '"from" must be before "to"' });
      return z.NEVER;
    }
    const { key, model, site, gateway } = q;
    return { groupBy: q.group_by, bucket: q.bucket, fromMs, toMs, key, model, site, gateway };
  });
export type UsageQuery = z.infer<typeof usageQuerySchema>;

/** One row of `GET /api/v1/usage`; fields not grouped by are null. Times are ISO 8601 (UTC). */
export interface UsageRowView {
  key_id: string | null;
  key_name: string | null;
  model: string | null;
  site: string | null;
  /** The room of the gateway that took the requests; null: the control plane's own gateway. */
  gateway: string | null;
  bucket_start: string | null;
  requests: number;
  /** Requests answered with status ≥ 400 or whose stream broke; a client that left is none. */
  errors: number;
  prompt_tokens: number;
  completion_tokens: number;
  mean_ttft_ms: number | null;
  mean_duration_ms: number | null;
}

export interface UsageReport {
  object: 'list';
  data: UsageRowView[];
  from: string;
  to: string;
  group_by: (typeof usageGroupFields)[number][];
  bucket: (typeof usageBuckets)[number] | null;
}

export const maxUsageEventsPerPost = 1000;

/** `POST /api/v1/usage/events`: stored idempotently by event id. */
export const postUsageEventsRequestSchema = z.strictObject({
  events: z.array(usageEventSchema).max(maxUsageEventsPerPost),
});

export interface PostUsageEventsResponse {
  object: 'usage_events';
  /** Events in the request. */
  received: number;
  /** Events not stored before (the others were already in the ledger). */
  stored: number;
}
