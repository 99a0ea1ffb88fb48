import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { UsageEvent } from '../../src/spec/usage-event.js';
import { PostgresTestDatabases } from '../store/postgres-test-databases.js';
import { errorCode, startHarness, type Harness, type JsonObject } from './server-harness.js';

const databases = new PostgresTestDatabases();
/** A multiple of 10 s, so 10-second buckets start exactly here. */
const t0 = Date.UTC(2026, 0, 1, 12);

function event(id: string, atOffsetMs: number, fields: Partial<UsageEvent> = {}): UsageEvent {
  return {
    id,
    atMs: t0 + atOffsetMs,
    keyId: 'key-x',
    model: 'r1-7b',
    siteName: 'room-1',
    instanceId: 'inst-1',
    route: 'chat.completions',
    promptTokens: 10,
    completionTokens: 1,
    ttftMs: null,
    durationMs: 100,
    status: 200,
    outcome: 'ok',
    usageEstimated: false,
    ...fields,
  };
}

/** TPOT = (duration − ttft) / (completion − 1); each event's expected TPOT is noted beside it. */
const events: UsageEvent[] = [
  // Bucket 0, room-1 / r1-7b: 5 requests, 1 error, 11 + 21 + 1 + 40 + 0 = 73 completion tokens.
  event('a1', 1000, { ttftMs: 100, durationMs: 1100, completionTokens: 11 }), // TPOT 100
  event('a2', 2000, { ttftMs: 200, durationMs: 1200, completionTokens: 21 }), // TPOT 50
  event('a3', 3000, { ttftMs: 300, durationMs: 300, completionTokens: 1 }), // no TPOT (1 token)
  // Not streamed; its client left before the end: no error of the fleet's.
  event('a4', 4000, { ttftMs: null, durationMs: 500, completionTokens: 40, outcome: 'aborted' }),
  event('a5', 5000, { status: 500, outcome: 'error', completionTokens: 0 }),
  // Bucket 0, room-2 / qwen: 1 request, 5 tokens.
  event('b1', 9999, {
    siteName: 'room-2',
    model: 'qwen',
    ttftMs: 1000,
    durationMs: 3000,
    completionTokens: 5,
  }), // TPOT 500
  // Buckets 1 and 2 idle. Bucket 3: room-1 / r1-7b, and one request that reached no site.
  event('c1', 30_000, { ttftMs: 40, durationMs: 440, completionTokens: 101 }), // TPOT 4
  // Its client left before any instance answered (499, as the gateway meters it): no error either.
  event('c0', 31_000, { status: 499, outcome: 'aborted', completionTokens: 0, promptTokens: 0 }),
  event('c2', 35_000, {
    siteName: null,
    instanceId: null,
    status: 429,
    outcome: 'error',
    completionTokens: 0,
  }),
  // Bucket 4: room-3 / big, 100 requests with TTFT i ms and TPOT i ms, i = 1…100 (in shuffled order).
  ...Array.from({ length: 100 }, (_, k) => {
    const i = ((k * 37) % 100) + 1;
    return event(`d${i}`, 40_000 + k * 10, {
      siteName: 'room-3',
      model: 'big',
      ttftMs: i,
      durationMs: i + 2 * i,
      completionTokens: 3,
    });
  }),
  // Bucket 5 ends the window; the request at exactly `to` and one before `from` fall outside it.
  // A stream that broke after its first byte: status 200, but an error.
  event('e1', 59_999, {
    siteName: 'room-2',
    model: 'qwen',
    completionTokens: 2,
    ttftMs: 10,
    durationMs: 30,
    outcome: 'broken',
  }),
  event('late', 60_000, { completionTokens: 999 }),
  event('early', -1, { completionTokens: 999 }),
];

const idle = {
  requests: 0,
  errors: 0,
  requestsPerSecond: 0,
  tokensPerSecond: 0,
  ttftP50Ms: null,
  ttftP99Ms: null,
  tpotP50Ms: null,
  tpotP99Ms: null,
};

type Series = { site: string; model: string; points: JsonObject[] };

function seriesOf(body: JsonObject, site: string, model: string): Series | undefined {
  return (body['series'] as Series[]).find((s) => s.site === site && s.model === model);
}

describe.each([
  ['SQLite', false],
  ['PostgreSQL', true],
])('traffic API over the usage ledger (%s)', (_name, postgres) => {
  let h: Harness;
  let room1Id: string;

  beforeAll(async () => {
    let databaseUrl: string | undefined;
    if (postgres) {
      await databases.connect();
      databaseUrl = await databases.fresh();
    }
    h = await startHarness(databaseUrl);
    room1Id = (await h.store.upsertSite({ name: 'room-1' })).id;
    const posted = await h.call('POST', '/api/v1/usage/events', { body: { events } });
    expect(posted.body['stored']).toBe(events.length);
    // 3 s into the bucket after the last: the window of 60 s ends at t0 + 60 s.
    h.clock.now = t0 + 63_000;
  });
  afterAll(async () => {
    await h?.close();
    if (postgres) await databases.dropAll();
  });

  it('needs the admin key', async () => {
    expect((await h.call('GET', '/api/v1/traffic', { key: null })).status).toBe(401);
    expect((await h.call('GET', '/api/v1/traffic', { key: h.inferenceKey })).status).toBe(403);
  });

  it('buckets requests, rates and percentiles, with every idle bucket present', async () => {
    const { status, body } = await h.call('GET', '/api/v1/traffic?windowS=60&stepS=10');
    expect(status).toBe(200);
    expect(body).toMatchObject({ object: 'traffic', from: t0, to: t0 + 60_000, stepS: 10 });
    const series = body['series'] as Series[];
    expect(series.map((s) => `${s.site}/${s.model}`)).toEqual([
      '*/*',
      '/r1-7b',
      'room-1/r1-7b',
      'room-2/qwen',
      'room-3/big',
    ]);
    for (const s of series) {
      expect(s.points.map((p) => p['t'])).toEqual([0, 1, 2, 3, 4, 5].map((i) => t0 + i * 10_000));
    }

    const room1 = seriesOf(body, 'room-1', 'r1-7b')!.points;
    expect(room1[0]).toEqual({
      t: t0,
      requests: 5,
      errors: 1,
      requestsPerSecond: 0.5,
      tokensPerSecond: 7.3,
      ttftP50Ms: 200, // of 100, 200, 300: the 2nd
      ttftP99Ms: 300,
      tpotP50Ms: 50, // of 50, 100: the 1st
      tpotP99Ms: 100,
    });
    expect(room1[1]).toEqual({ t: t0 + 10_000, ...idle });
    expect(room1[2]).toEqual({ t: t0 + 20_000, ...idle });
    expect(room1[3]).toEqual({
      t: t0 + 30_000,
      requests: 2,
      errors: 0,
      requestsPerSecond: 0.2,
      tokensPerSecond: 10.1,
      ttftP50Ms: 40,
      ttftP99Ms: 40,
      tpotP50Ms: 4,
      tpotP99Ms: 4,
    });
    expect(room1[5]).toEqual({ t: t0 + 50_000, ...idle });

    const noSite = seriesOf(body, '', 'r1-7b')!.points;
    expect(noSite[3]).toMatchObject({ requests: 1, errors: 1, ttftP50Ms: null, tpotP50Ms: null });

    // 100 requests with TTFT and TPOT 1…100 ms: nearest-rank p50 = 50, p99 = 99.
    const big = seriesOf(body, 'room-3', 'big')!.points;
    expect(big[4]).toEqual({
      t: t0 + 40_000,
      requests: 100,
      errors: 0,
      requestsPerSecond: 10,
      tokensPerSecond: 30,
      ttftP50Ms: 50,
      ttftP99Ms: 99,
      tpotP50Ms: 50,
      tpotP99Ms: 99,
    });

    const fleet = seriesOf(body, '*', '*')!.points;
    expect(fleet[0]).toEqual({
      t: t0,
      requests: 6,
      errors: 1,
      requestsPerSecond: 0.6,
      tokensPerSecond: 7.8,
      ttftP50Ms: 200, // of 100, 200, 300, 1000: the 2nd
      ttftP99Ms: 1000,
      tpotP50Ms: 100, // of 50, 100, 500: the 2nd
      tpotP99Ms: 500,
    });
    expect(fleet[1]).toEqual({ t: t0 + 10_000, ...idle });
    expect(fleet[3]).toMatchObject({ requests: 3, errors: 1, ttftP50Ms: 40, tpotP99Ms: 4 });
    expect(fleet[5]).toMatchObject({
      requests: 1,
      errors: 1,
      tokensPerSecond: 0.2,
      ttftP50Ms: 10,
      tpotP50Ms: 20,
    });
    // Nothing from outside [from, to).
    const total = fleet.reduce((sum, p) => sum + (p['requests'] as number), 0);
    expect(total).toBe(events.length - 2);
  });

  it('filters by model, and by site id or name', async () => {
    const byModel = await h.call('GET', '/api/v1/traffic?windowS=60&stepS=10&model=qwen');
    expect((byModel.body['series'] as Series[]).map((s) => `${s.site}/${s.model}`)).toEqual([
      '*/*',
      'room-2/qwen',
    ]);
    const fleet = seriesOf(byModel.body, '*', '*')!.points;
    expect(fleet[0]).toMatchObject({ requests: 1, ttftP50Ms: 1000, tpotP50Ms: 500 });
    for (const path of [`site=${room1Id}`, 'site=room-1']) {
      const bySite = await h.call('GET', `/api/v1/traffic?windowS=60&stepS=10&${path}`);
      expect(bySite.status).toBe(200);
      const names = (bySite.body['series'] as Series[]).map((s) => `${s.site}/${s.model}`);
      expect(names).toEqual(['*/*', 'room-1/r1-7b']);
      expect(seriesOf(bySite.body, '*', '*')!.points[0]).toMatchObject({ requests: 5, tpotP99Ms: 100 });
    }
  });

  it('defaults to 300 s in 5 s steps; the window may not be uneven or too long', async () => {
    const defaults = await h.call('GET', '/api/v1/traffic');
    expect(defaults.status).toBe(200);
    expect(defaults.body).toMatchObject({ to: t0 + 60_000, from: t0 + 60_000 - 300_000, stepS: 5 });
    expect(seriesOf(defaults.body, '*', '*')!.points).toHaveLength(60);
    // 25 s in 10 s steps: 3 buckets, ending at the last complete one.
    const uneven = await h.call('GET', '/api/v1/traffic?windowS=25&stepS=10');
    expect(uneven.body).toMatchObject({ from: t0 + 30_000, to: t0 + 60_000 });
    const day = await h.call('GET', '/api/v1/traffic?windowS=86400&stepS=87');
    expect(day.status).toBe(200);
    expect(seriesOf(day.body, '*', '*')!.points).toHaveLength(994);

    for (const query of [
      'windowS=0',
      'windowS=86401',
      'stepS=0',
      'windowS=1.5',
      'windowS=abc',
      'windowS=-5',
      'windowS=86400&stepS=60',
    ]) {
      const bad = await h.call('GET', `/api/v1/traffic?${query}`);
      expect(bad.status, query).toBe(400);
      expect(errorCode(bad.body), query).toBe('invalid_request');
    }
    const tooMany = await h.call('GET', '/api/v1/traffic?windowS=86400&stepS=60');
    expect((tooMany.body['error'] as JsonObject)['message']).toContain('1000');
    const repeated = await h.call('GET', '/api/v1/traffic?stepS=5&stepS=10');
    expect(repeated.status).toBe(400);
    const unknown = await h.call('GET', '/api/v1/traffic?bucket=minute');
    expect(unknown.status).toBe(400);
    expect(errorCode(unknown.body)).toBe('unsupported_parameter');
    expect((await h.call('POST', '/api/v1/traffic', { body: {} })).status).toBe(405);
  });
});
