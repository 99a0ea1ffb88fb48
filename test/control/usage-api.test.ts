import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { maxUsageTokens, type UsageEvent } from '../../src/spec/usage-event.js';
import { PostgresTestDatabases } from '../store/postgres-test-databases.js';
import { errorCode, listOf, startHarness, type Harness } from './server-harness.js';

const databases = new PostgresTestDatabases();
const hourMs = 3_600_000;
const t0 = Date.UTC(2026, 0, 1);

function usageEvent(id: string, fields: Partial<UsageEvent> = {}): UsageEvent {
  return {
    id,
    atMs: t0,
    keyId: 'key-x',
    model: 'r1-7b',
    siteName: 'room-1',
    instanceId: 'inst-1',
    route: 'chat.completions',
    promptTokens: 10,
    completionTokens: 20,
    ttftMs: 50,
    durationMs: 400,
    status: 200,
    outcome: 'ok',
    usageEstimated: false,
    ...fields,
  };
}

describe.each([
  ['SQLite', false],
  ['PostgreSQL', true],
])('usage ledger over the management API (%s)', (_name, postgres) => {
  let h: Harness;
  let appKeyId: string;

  beforeAll(async () => {
    let databaseUrl: string | undefined;
    if (postgres) {
      await databases.connect();
      databaseUrl = await databases.fresh();
    }
    h = await startHarness(databaseUrl);
    const keys = listOf((await h.call('GET', '/api/v1/keys')).body);
    appKeyId = keys.find((k) => k['name'] === 'app')!['id'] as string;
    const events = [
      usageEvent('e1', { keyId: appKeyId }),
      usageEvent('e2', { keyId: appKeyId, atMs: t0 + 10 * 60_000, ttftMs: 150, durationMs: 600 }),
      usageEvent('e3', { keyId: appKeyId, model: 'qwen', siteName: 'room-2', status: 503, outcome: 'error' }),
      // Taken by room-1's own gateway; the others by the control plane's, or from journals of before
      // `gatewaySite` was kept (no such field).
      usageEvent('e4', { atMs: t0 + hourMs + 5, ttftMs: null, gatewaySite: 'room-1' }),
      // Refused at room-3's gateway (a limit): no room answered.
      usageEvent('e5', { atMs: t0 + 2 * hourMs, siteName: null, status: 429, gatewaySite: 'room-3' }),
    ];
    const posted = await h.call('POST', '/api/v1/usage/events', { body: { events } });
    expect(posted).toEqual({ status: 200, body: { object: 'usage_events', received: 5, stored: 5 } });
  });
  afterAll(async () => {
    await h?.close();
    if (postgres) await databases.dropAll();
  });

  const report = async (query: string) => {
    const { status, body } = await h.call('GET', `/api/v1/usage?${query}`);
    expect(status, JSON.stringify(body)).toBe(200);
    return body;
  };
  const range = `from=${new Date(t0).toISOString()}&to=${t0 + 3 * hourMs}`;

  it('groups by key and model by default, with key names, errors and mean timings', async () => {
    const body = await report(range);
    expect(body).toMatchObject({
      object: 'list',
      from: '2026-01-01T00:00:00.000Z',
      to: '2026-01-01T03:00:00.000Z',
      group_by: ['key', 'model'],
      bucket: null,
    });
    const rows = listOf(body);
    expect(rows).toContainEqual({
      key_id: appKeyId,
      key_name: 'app',
      model: 'r1-7b',
      site: null,
      gateway: null,
      bucket_start: null,
      requests: 2,
      errors: 0,
      prompt_tokens: 20,
      completion_tokens: 40,
      mean_ttft_ms: 100,
      mean_duration_ms: 500,
    });
    expect(rows).toContainEqual(
      expect.objectContaining({ key_id: appKeyId, model: 'qwen', requests: 1, errors: 1 }),
    );
    // A key id the server does not know (a standalone gateway's) has no name.
    expect(rows).toContainEqual(
      expect.objectContaining({ key_id: 'key-x', key_name: null, model: 'r1-7b', requests: 2, errors: 1 }),
    );
    expect(rows).toHaveLength(3);
  });

  it('filters by key (id or name), model and site, and buckets by hour', async () => {
    const byName = listOf(await report(`${range}&key=app&group_by=site`));
    expect(byName.map((r) => [r['site'], r['requests'], r['key_id']])).toEqual([
      ['room-1', 2, null],
      ['room-2', 1, null],
    ]);
    expect(listOf(await report(`${range}&key=${appKeyId}&group_by=site`))).toEqual(byName);
    const hourly = listOf(await report(`${range}&group_by=model&bucket=hour&model=r1-7b`));
    expect(hourly.map((r) => [r['bucket_start'], r['model'], r['requests']])).toEqual([
      ['2026-01-01T00:00:00.000Z', 'r1-7b', 2],
      ['2026-01-01T01:00:00.000Z', 'r1-7b', 1],
      ['2026-01-01T02:00:00.000Z', 'r1-7b', 1],
    ]);
    const perSite = listOf(await report(`${range}&group_by=&site=room-1`));
    expect(perSite).toEqual([
      expect.objectContaining({ key_id: null, model: null, site: null, requests: 3 }),
    ]);
    // `site` may also be the site's id (the ledger records its name), as for the traffic charts.
    const room1 = await h.store.upsertSite({ name: 'room-1' });
    expect(listOf(await report(`${range}&group_by=&site=${room1.id}`))).toEqual(perSite);
    expect(listOf(await report(`${range}&group_by=site&site=${room1.id}`))).toEqual([
      expect.objectContaining({ site: 'room-1', requests: 3 }),
    ]);
    // [from, to): the event at exactly `to` is left out.
    const upToTwo = listOf(await report(`from=${t0}&to=${t0 + 2 * hourMs}&group_by=`));
    expect(upToTwo[0]?.['requests']).toBe(4);
  });

  it('groups and filters by the room of the gateway that took the request', async () => {
    const rows = listOf(await report(`${range}&group_by=gateway,site`));
    expect(rows.map((r) => [r['gateway'], r['site'], r['requests'], r['errors']])).toEqual([
      ['room-1', 'room-1', 1, 0],
      ['room-3', null, 1, 1],
      [null, 'room-1', 2, 0],
      [null, 'room-2', 1, 1],
    ]);
    const room3 = await h.store.upsertSite({ name: 'room-3' });
    for (const gateway of ['room-3', room3.id]) {
      expect(listOf(await report(`${range}&group_by=&gateway=${gateway}`))).toEqual([
        expect.objectContaining({ gateway: null, site: null, requests: 1, errors: 1 }),
      ]);
    }
    // A gateway started with its site's id (`--site` takes either): the ledger keeps the site's name.
    // (After the range the other tests count.)
    const later = t0 + 10 * hourMs;
    const byId = usageEvent('by-id', { atMs: later, gatewaySite: room3.id });
    await h.call('POST', '/api/v1/usage/events', { body: { events: [byId] } });
    expect(listOf(await report(`from=${later}&to=${later + 1}&group_by=gateway`))).toEqual([
      expect.objectContaining({ gateway: 'room-3', requests: 1 }),
    ]);
    const bad = await h.call('GET', `/api/v1/usage?${range}&group_by=gateways`);
    expect(bad.status).toBe(400);
  });

  it('takes ISO times with an offset, counts every key of a name, and bounds the rows', async () => {
    const eightAm = encodeURIComponent('2026-01-01T08:00:00+08:00'); // t0
    const offsetRange = listOf(await report(`from=${eightAm}&to=${t0 + 3 * hourMs}&group_by=`));
    expect(offsetRange).toEqual(listOf(await report(`${range}&group_by=`)));

    // A key made again under the same name (the first one revoked): `key=NAME` covers both.
    const first = await h.call('POST', '/api/v1/keys', { body: { name: 'app-twin' } });
    const firstId = first.body['id'] as string;
    expect((await h.call('DELETE', `/api/v1/keys/${firstId}`)).status).toBe(200);
    const again = await h.call('POST', '/api/v1/keys', { body: { name: 'app-twin' } });
    expect(again.status).toBe(201);
    const later = t0 + 10 * hourMs;
    const posted = await h.call('POST', '/api/v1/usage/events', {
      body: {
        events: [
          usageEvent('dup-1', { keyId: firstId, atMs: later }),
          usageEvent('dup-2', { keyId: again.body['id'] as string, atMs: later + 1 }),
          usageEvent('dup-3', { keyId: again.body['id'] as string, atMs: later + 2 }),
        ],
      },
    });
    expect(posted.body['stored']).toBe(3);
    const laterRange = `from=${later}&to=${later + hourMs}`;
    expect(listOf(await report(`${laterRange}&key=app-twin&group_by=`))[0]?.['requests']).toBe(3);
    expect(listOf(await report(`${laterRange}&key=${firstId}&group_by=`))[0]?.['requests']).toBe(1);
    // A key id no key has (requests where no key was needed are `anonymous`) is still a filter.
    const anonymous = usageEvent('anon-1', { keyId: 'anonymous', atMs: later + 3 });
    expect((await h.call('POST', '/api/v1/usage/events', { body: { events: [anonymous] } })).status).toBe(
      200,
    );
    expect(listOf(await report(`${laterRange}&key=anonymous&group_by=`))[0]?.['requests']).toBe(1);

    // 10,001 minutes with a request each, far from the other events: one row per minute is too many.
    const start = t0 + 30 * 24 * hourMs;
    for (let batch = 0; batch < 11; batch++) {
      const events = Array.from({ length: batch < 10 ? 1000 : 1 }, (_, i) =>
        usageEvent(`many-${batch}-${i}`, { atMs: start + (batch * 1000 + i) * 60_000 }),
      );
      expect((await h.call('POST', '/api/v1/usage/events', { body: { events } })).status).toBe(200);
    }
    const wide = `from=${start}&to=${start + 10_001 * 60_000}`;
    const tooMany = await h.call('GET', `/api/v1/usage?${wide}&bucket=minute&group_by=`);
    expect(tooMany.status).toBe(400);
    expect(JSON.stringify(tooMany.body)).toMatch(/more than 10000 rows/);
    expect(listOf(await report(`${wide}&bucket=day&group_by=`)).length).toBeLessThan(10);
  });

  it('defaults to the last 24 hours', async () => {
    const now = Date.now();
    const posted = await h.call('POST', '/api/v1/usage/events', {
      body: {
        events: [
          usageEvent('recent', { model: 'fresh', atMs: now - hourMs }),
          usageEvent('old', { model: 'fresh', atMs: now - 25 * hourMs }),
        ],
      },
    });
    expect(posted.body['stored']).toBe(2);
    const rows = listOf(await report('model=fresh'));
    expect(rows.map((r) => [r['model'], r['requests']])).toEqual([['fresh', 1]]);
  });

  it('counts streams that broke after their first byte as errors, clients that left as none', async () => {
    const at = t0 + 200 * 24 * hourMs;
    const events = (['ok', 'broken', 'aborted', 'error'] as const).map((outcome, i) =>
      usageEvent(`outcome-${outcome}`, {
        model: 'outcomes',
        atMs: at + i,
        outcome,
        status: outcome === 'error' ? 502 : 200,
      }),
    );
    // A client that left before any instance answered: 499, as the gateway meters it.
    events.push(
      usageEvent('outcome-left-waiting', {
        model: 'outcomes',
        atMs: at + 4,
        outcome: 'aborted',
        status: 499,
        promptTokens: 0,
        completionTokens: 0,
        ttftMs: null,
      }),
    );
    expect((await h.call('POST', '/api/v1/usage/events', { body: { events } })).status).toBe(200);
    const rows = listOf(await report(`from=${at}&to=${at + hourMs}&model=outcomes&group_by=`));
    expect(rows).toEqual([expect.objectContaining({ requests: 5, errors: 2 })]);
  });

  it("sets a key's last use from the records a room gateway ships (never moving it back)", async () => {
    const created = await h.call('POST', '/api/v1/keys', { body: { name: 'roaming' } });
    const id = created.body['id'] as string;
    const lastUsed = async () =>
      listOf((await h.call('GET', '/api/v1/keys')).body).find((k) => k['id'] === id)?.['lastUsedAtMs'];
    expect(await lastUsed()).toBeNull();
    const at = Date.now() - 5000;
    const events = [
      usageEvent('r1', { keyId: id, atMs: at - 60_000 }),
      usageEvent('r2', { keyId: id, atMs: at }),
    ];
    expect((await h.call('POST', '/api/v1/usage/events', { body: { events } })).status).toBe(200);
    expect(await lastUsed()).toBe(at);
    const older = [usageEvent('r3', { keyId: id, atMs: at - 120_000 })];
    expect((await h.call('POST', '/api/v1/usage/events', { body: { events: older } })).status).toBe(200);
    expect(await lastUsed()).toBe(at);
    // A gateway whose clock runs a day ahead does not set it in the future.
    const ahead = [usageEvent('r4', { keyId: id, atMs: Date.now() + 86_400_000 })];
    expect((await h.call('POST', '/api/v1/usage/events', { body: { events: ahead } })).status).toBe(200);
    expect(await lastUsed()).toBeLessThanOrEqual(Date.now());
  });

  it('stores posted events idempotently by id', async () => {
    const again = await h.call('POST', '/api/v1/usage/events', {
      body: { events: [usageEvent('e1', { keyId: appKeyId }), usageEvent('e6', { atMs: t0 + 1 })] },
    });
    expect(again.body).toEqual({ object: 'usage_events', received: 2, stored: 1 });
    const total = listOf(await report(`${range}&group_by=`));
    expect(total[0]?.['requests']).toBe(6);
    expect((await h.call('POST', '/api/v1/usage/events', { body: { events: [] } })).body['stored']).toBe(0);
  });

  it('refuses bad events, bad queries and non-admin keys', async () => {
    const refused = (id: string) => usageEvent(id, { model: 'refused' });
    const bad: [unknown, string][] = [
      [{ events: [{ ...refused('x'), status: 99 }] }, 'invalid_request'],
      [{ events: [{ ...refused('x'), promptTokens: -1 }] }, 'invalid_request'],
      // More than any request can hold: enough such records would overflow the store's 64-bit sums.
      [{ events: [{ ...refused('x'), promptTokens: maxUsageTokens + 1 }] }, 'invalid_request'],
      [{ events: [{ ...refused('x'), completionTokens: Number.MAX_SAFE_INTEGER }] }, 'invalid_request'],
      [{ events: Array.from({ length: 1001 }, (_, i) => refused(`many-${i}`)) }, 'invalid_request'],
      [{}, 'invalid_request'],
    ];
    for (const [body, code] of bad) {
      const answer = await h.call('POST', '/api/v1/usage/events', { body });
      expect(answer.status, JSON.stringify(answer.body).slice(0, 200)).toBe(400);
      expect(errorCode(answer.body)).toBe(code);
    }
    // Nothing of a refused batch is stored.
    expect(listOf(await report(`${range}&model=refused`))).toEqual([]);
    // A field this version does not know (a newer gateway's) is dropped, and the event kept.
    const newer = { ...usageEvent('newer', { atMs: t0 + 11 * hourMs }), addedLater: 1 };
    const shipped = await h.call('POST', '/api/v1/usage/events', { body: { events: [newer] } });
    expect(shipped.body).toMatchObject({ stored: 1 });
    expect(listOf(await report(`from=${t0 + 11 * hourMs}&to=${t0 + 12 * hourMs}&group_by=`))).toEqual([
      expect.objectContaining({ requests: 1 }),
    ]);
    // Two full batches at the limit still add up (SQLite's integer SUM failed with "integer overflow"
    // on two batches at Number.MAX_SAFE_INTEGER, for good) and leave the keys list answering.
    const atMs = t0 + 400 * 24 * hourMs;
    for (let batch = 0; batch < 2; batch++) {
      const events = Array.from({ length: 1000 }, (_, i) =>
        usageEvent(`max-${batch}-${i}`, {
          keyId: appKeyId,
          atMs: atMs + batch * 1000 + i,
          promptTokens: maxUsageTokens,
          completionTokens: maxUsageTokens,
        }),
      );
      expect((await h.call('POST', '/api/v1/usage/events', { body: { events } })).status).toBe(200);
    }
    const huge = listOf(await report(`from=${atMs}&to=${atMs + hourMs}&group_by=`));
    expect(huge[0]).toMatchObject({ requests: 2000, prompt_tokens: 2000 * maxUsageTokens });
    expect((await h.call('GET', '/api/v1/keys')).status).toBe(200);
    for (const query of [
      'group_by=region',
      'bucket=week',
      'from=yesterday',
      // Date.parse would take these: a negative year, US date order, a time no Date can hold.
      'from=-5',
      'from=1/2/2026',
      'to=9000000000000000',
      'from=2026-13-01',
      'from=2026-02-30',
      `from=${t0 + 1}&to=${t0}`,
      'limit=5',
      'model=a&model=b',
    ]) {
      const answer = await h.call('GET', `/api/v1/usage?${query}`);
      expect(answer.status, query).toBe(400);
    }
    expect((await h.call('GET', '/api/v1/usage', { key: h.inferenceKey })).status).toBe(403);
    expect((await h.call('POST', '/api/v1/usage/events', { body: { events: [] }, key: null })).status).toBe(
      401,
    );
    expect((await h.call('DELETE', '/api/v1/usage')).status).toBe(405);
  });
});
