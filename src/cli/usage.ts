/**
 * `edgefleet usage`: the usage ledger through `GET /api/v1/usage` (admin key) — requests, errors,
 * tokens and mean timings grouped by key, model, site, the gateway's room and time bucket, as a table
 * or JSON.
 */
import {
  CliFailure,
  CONNECTION_HELP,
  callApi,
  cell,
  formatTable,
  listRows,
  printJson,
  runManagementCommand,
} from './management-client.js';
import { parseInstant, usageGroupFields } from '../spec/usage-api.js';

const HELP = `usage: edgefleet usage [--group-by key,model,site,gateway] [--bucket minute|hour|day]
                      [--since 24h] [--until TIME] [--key K] [--model M] [--site S] [--gateway S]
                      [--server URL] [--api-key KEY | --home DIR] [--json]

Shows the usage ledger: requests, errors (status >= 400 or a broken stream; not a client that left),
prompt and completion tokens, mean time to first token and mean duration, per group.

  --group-by FIELDS    any of key, model, site, gateway, comma-separated (default key,model; "" for
                       one total); site: the room that answered, gateway: the room whose gateway
                       took the request (- for the server's own gateway)
  --bucket SIZE        also per minute, hour or day (UTC)
  --since AGE|TIME     start: an age like 30m, 24h, 7d, or an ISO time (default 24h)
  --until TIME         end, exclusive: an ISO time (default now)
  --key K              only this API key (id or name)
  --model M            only this model
  --site S             only this site (id or name)
  --gateway S          only requests taken by this room's gateway (id or name)

${CONNECTION_HELP}`;

const usageOptions = {
  'group-by': { type: 'string' },
  bucket: { type: 'string' },
  since: { type: 'string' },
  until: { type: 'string' },
  key: { type: 'string' },
  model: { type: 'string' },
  site: { type: 'string' },
  gateway: { type: 'string' },
} as const;

const unitMs: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/**
 * An ISO time given to --since or --until; null for anything else, a bare number included (an age
 * without its unit, or epoch milliseconds, which these flags do not take).
 */
function isoInstant(text: string): number | null {
  return /^\s*\d+\s*$/.test(text) ? null : parseInstant(text);
}

/** `30m`, `24h`, `7d` → an epoch-ms start that long before `nowMs`; an ISO time → that time. */
export function sinceToMs(text: string, nowMs: number): number {
  const age = /^(\d+)\s*([smhd])$/.exec(text.trim());
  if (age) return nowMs - Number(age[1]) * unitMs[age[2]!]!;
  const ms = isoInstant(text);
  if (ms === null) {
    throw new CliFailure(
      `--since must be an age like 30m, 24h, 7d or an ISO time (2026-11-30T08:00Z), got "${text}"`,
      2,
    );
  }
  return ms;
}

/** The query string of GET /api/v1/usage from the flags. */
export function usageQuery(values: Record<string, unknown>, nowMs: number): URLSearchParams {
  const text = (key: string) => (typeof values[key] === 'string' ? values[key] : undefined);
  const query = new URLSearchParams();
  const groupBy = text('group-by');
  if (groupBy !== undefined) {
    const fields = groupBy
      .split(',')
      .map((f) => f.trim())
      .filter((f) => f !== '');
    const unknown = fields.find((f) => !(usageGroupFields as readonly string[]).includes(f));
    if (unknown !== undefined)
      throw new CliFailure(`--group-by takes ${usageGroupFields.join(', ')}, got "${unknown}"`, 2);
    query.set('group_by', fields.join(','));
  }
  const bucket = text('bucket');
  if (bucket !== undefined) {
    if (!['minute', 'hour', 'day'].includes(bucket)) {
      throw new CliFailure(`--bucket must be minute, hour or day, got "${bucket}"`, 2);
    }
    query.set('bucket', bucket);
  }
  const until = text('until');
  let toMs = nowMs;
  if (until !== undefined) {
    const parsed = isoInstant(until);
    if (parsed === null) {
      throw new CliFailure(`--until must be an ISO time (2026-11-30T08:00Z), got "${until}"`, 2);
    }
    toMs = parsed;
  }
  const fromMs = sinceToMs(text('since') ?? '24h', toMs);
  if (fromMs >= toMs) {
    throw new CliFailure(`--since must be before --until (or now), got "${text('since')}"`, 2);
  }
  query.set('from', String(fromMs));
  query.set('to', String(toMs));
  for (const filter of ['key', 'model', 'site', 'gateway']) {
    const value = text(filter);
    if (value !== undefined) query.set(filter, value);
  }
  return query;
}

function usageTable(body: Record<string, unknown>, rows: Record<string, unknown>[]): string {
  const groups = Array.isArray(body['group_by']) ? (body['group_by'] as unknown[]) : [];
  const columns: [string, (r: Record<string, unknown>) => string][] = [];
  if (body['bucket'] !== null && body['bucket'] !== undefined)
    columns.push(['BUCKET', (r) => cell(r['bucket_start'])]);
  // Both: a revoked key and the key made after it under its name are two rows with one name.
  if (groups.includes('key')) {
    columns.push(['KEY ID', (r) => cell(r['key_id'])], ['KEY', (r) => cell(r['key_name'])]);
  }
  if (groups.includes('model')) columns.push(['MODEL', (r) => cell(r['model'])]);
  if (groups.includes('gateway')) columns.push(['GATEWAY', (r) => cell(r['gateway'])]);
  if (groups.includes('site')) columns.push(['SITE', (r) => cell(r['site'])]);
  columns.push(
    ['REQUESTS', (r) => cell(r['requests'])],
    ['ERRORS', (r) => cell(r['errors'])],
    ['PROMPT', (r) => cell(r['prompt_tokens'])],
    ['COMPLETION', (r) => cell(r['completion_tokens'])],
    ['TTFT MS', (r) => cell(r['mean_ttft_ms'])],
    ['DURATION MS', (r) => cell(r['mean_duration_ms'])],
  );
  return formatTable([columns.map(([title]) => title), ...rows.map((r) => columns.map(([, of]) => of(r)))]);
}

/** `edgefleet usage`. */
export async function run(args: string[]): Promise<number> {
  return runManagementCommand('usage', HELP, args, usageOptions, false, async ({ values }, connect) => {
    const query = usageQuery(values, Date.now());
    const body = (await callApi(await connect(), 'GET', `usage?${query.toString()}`)) as Record<
      string,
      unknown
    >;
    if (values.json === true) {
      printJson(body);
      return 0;
    }
    const rows = listRows(body);
    const window = `${cell(body['from'])} – ${cell(body['to'])}`;
    if (rows.length === 0) process.stdout.write(`no usage recorded from ${window}\n`);
    else process.stdout.write(`usage from ${window}\n${usageTable(body, rows)}\n`);
    return 0;
  });
}
