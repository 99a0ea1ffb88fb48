import { expect, it } from 'vitest';
import type { NewUsageRecord } from '../../src/store/store.js';
import type { ContractHarness } from './contract-harness.js';

const hourMs = 3_600_000;
/** 2026-01-01T00:00:00Z: bucket boundaries are easy to read. */
const t0 = Date.UTC(2026, 0, 1);

function event(id: string, fields: Partial<NewUsageRecord> = {}): NewUsageRecord {
  return {
    id,
    keyId: 'key-a',
    model: 'r1-7b',
    promptTokens: 10,
    completionTokens: 20,
    atMs: t0,
    siteName: 'room-1',
    instanceId: 'inst-1',
    route: 'chat.completions',
    ttftMs: 100,
    durationMs: 1_000,
    status: 200,
    outcome: 'ok',
    usageEstimated: false,
    ...fields,
  };
}

/** The usage ledger: the full usage event, idempotent appends, aggregation by group and bucket. */
export function usageContract(h: ContractHarness): void {
  it('appending the same events twice stores them once', async () => {
    const store = await h.open();
    const events = Array.from({ length: 250 }, (_, i) => event(`ev-${i}`, { atMs: t0 + i }));
    expect(await store.appendUsage(events)).toBe(250);
    // The shipper crashed after storing, before its checkpoint: the whole batch comes again, with more.
    expect(await store.appendUsage([...events, event('ev-new', { atMs: t0 + 999 })])).toBe(1);
    // The same id twice in one batch is stored once too.
    expect(await store.appendUsage([event('dup', { atMs: t0 }), event('dup', { atMs: t0 })])).toBe(1);
    const [total] = await store.aggregateUsage({ fromMs: 0, toMs: t0 + hourMs, groupBy: [] });
    expect(total?.requests).toBe(252);
    expect(await store.totalTokensForKey('key-a')).toBe(252 * 30);
  });

  it('aggregates by key, model and site over [from, to) with errors and mean timings', async () => {
    const store = await h.open();
    await store.appendUsage([
      event('1', { ttftMs: 100, durationMs: 1_000 }),
      event('2', { ttftMs: 300, durationMs: 3_000, status: 500, outcome: 'error', promptTokens: 0 }),
      event('3', { ttftMs: null, durationMs: 500, model: 'qwen', siteName: 'room-2' }),
      event('4', { keyId: 'key-b', siteName: null, instanceId: null, status: 429, ttftMs: null }),
      event('late', { atMs: t0 + hourMs }),
      event('early', { atMs: t0 - 1 }),
    ]);
    const range = { fromMs: t0, toMs: t0 + hourMs };
    const byKeyModel = await store.aggregateUsage({ ...range, groupBy: ['key', 'model'] });
    expect(byKeyModel).toEqual([
      {
        keyId: 'key-a',
        model: 'qwen',
        siteName: null,
        gatewaySite: null,
        bucketStartMs: null,
        requests: 1,
        errors: 0,
        promptTokens: 10,
        completionTokens: 20,
        meanTtftMs: null,
        meanDurationMs: 500,
      },
      {
        keyId: 'key-a',
        model: 'r1-7b',
        siteName: null,
        gatewaySite: null,
        bucketStartMs: null,
        requests: 2,
        errors: 1,
        promptTokens: 10,
        completionTokens: 40,
        meanTtftMs: 200,
        meanDurationMs: 2_000,
      },
      {
        keyId: 'key-b',
        model: 'r1-7b',
        siteName: null,
        gatewaySite: null,
        bucketStartMs: null,
        requests: 1,
        errors: 1,
        promptTokens: 10,
        completionTokens: 20,
        meanTtftMs: null,
        meanDurationMs: 1_000,
      },
    ]);
    const bySite = await store.aggregateUsage({ ...range, groupBy: ['site'] });
    expect(bySite.map((r) => [r.siteName, r.requests, r.keyId, r.model])).toEqual([
      ['room-1', 2, null, null],
      ['room-2', 1, null, null],
      [null, 1, null, null],
    ]);
    const filtered = await store.aggregateUsage({
      ...range,
      groupBy: ['key'],
      model: 'r1-7b',
      siteName: 'room-1',
    });
    expect(filtered.map((r) => [r.keyId, r.requests])).toEqual([['key-a', 2]]);
    expect(await store.aggregateUsage({ ...range, groupBy: [], keyIds: ['nobody'] })).toEqual([]);
    expect(await store.aggregateUsage({ ...range, groupBy: [], keyIds: [] })).toEqual([]);
    const both = await store.aggregateUsage({ ...range, groupBy: ['key'], keyIds: ['key-a', 'key-b'] });
    expect(both.map((r) => r.keyId)).toEqual(['key-a', 'key-b']);
    const first = await store.aggregateUsage({ ...range, groupBy: ['key', 'model'], limit: 1 });
    expect(first).toHaveLength(1);
    expect(first[0]!.keyId).toBe('key-a');
    expect(await store.aggregateUsage({ fromMs: 0, toMs: 1, groupBy: ['key'] })).toEqual([]);
  });

  it("groups and filters by the gateway's room beside the room that answered", async () => {
    const store = await h.open();
    await store.appendUsage([
      event('north-1', { gatewaySite: 'north' }),
      // Spilled: taken in the north, answered in the south.
      event('north-2', { gatewaySite: 'north', siteName: 'south' }),
      // Refused at the north's gateway (a limit): no room answered.
      event('north-3', { gatewaySite: 'north', siteName: null, instanceId: null, status: 429 }),
      event('central', { siteName: 'south' }), // the control plane's own gateway
    ]);
    const range = { fromMs: t0, toMs: t0 + hourMs };
    const rows = await store.aggregateUsage({ ...range, groupBy: ['gateway', 'site'] });
    expect(rows.map((r) => [r.gatewaySite, r.siteName, r.requests, r.errors])).toEqual([
      ['north', 'room-1', 1, 0],
      ['north', 'south', 1, 0],
      ['north', null, 1, 1],
      [null, 'south', 1, 0],
    ]);
    const north = await store.aggregateUsage({ ...range, groupBy: [], gatewaySite: 'north' });
    expect(north.map((r) => [r.gatewaySite, r.requests])).toEqual([[null, 3]]);
  });

  it('counts error answers and broken streams as errors, clients that left as none', async () => {
    const store = await h.open();
    await store.appendUsage([
      event('ok'),
      // Cut after the first byte: status 200, an error all the same.
      event('broken', { outcome: 'broken' }),
      event('refused', { status: 429, outcome: 'error', promptTokens: 0, completionTokens: 0 }),
      event('failed', { status: 502, outcome: 'error', promptTokens: 0, completionTokens: 0 }),
      // Left during an answer, and before any instance answered (499, as the gateway meters it).
      event('left-answering', { outcome: 'aborted' }),
      event('left-waiting', { status: 499, outcome: 'aborted', promptTokens: 0, completionTokens: 0 }),
    ]);
    const [total] = await store.aggregateUsage({ fromMs: t0, toMs: t0 + hourMs, groupBy: [] });
    expect(total).toMatchObject({ requests: 6, errors: 3 });
    const traffic = await store.trafficBuckets({ fromMs: t0, stepMs: hourMs, buckets: 1 });
    expect(traffic.fleet).toEqual([expect.objectContaining({ bucket: 0, requests: 6, errors: 3 })]);
    expect(traffic.groups).toEqual([
      expect.objectContaining({ siteName: 'room-1', model: 'r1-7b', requests: 6, errors: 3 }),
    ]);
  });

  it('buckets by minute, hour and day (UTC)', async () => {
    const store = await h.open();
    await store.appendUsage([
      event('a', { atMs: t0 + 5_000 }),
      event('b', { atMs: t0 + 59_999 }),
      event('c', { atMs: t0 + 60_000 }),
      event('d', { atMs: t0 + hourMs + 1 }),
      event('e', { atMs: t0 + 25 * hourMs }),
    ]);
    const range = { fromMs: t0, toMs: t0 + 48 * hourMs, groupBy: [] as const };
    const rows = async (bucket: 'minute' | 'hour' | 'day') =>
      (await store.aggregateUsage({ ...range, bucket })).map((r) => [r.bucketStartMs! - t0, r.requests]);
    expect(await rows('minute')).toEqual([
      [0, 2],
      [60_000, 1],
      [hourMs, 1],
      [25 * hourMs, 1],
    ]);
    expect(await rows('hour')).toEqual([
      [0, 3],
      [hourMs, 1],
      [25 * hourMs, 1],
    ]);
    expect(await rows('day')).toEqual([
      [0, 4],
      [24 * hourMs, 1],
    ]);
    const byKeyPerDay = await store.aggregateUsage({ ...range, bucket: 'day', groupBy: ['key'] });
    expect(byKeyPerDay.map((r) => [r.bucketStartMs, r.keyId])).toEqual([
      [t0, 'key-a'],
      [t0 + 24 * hourMs, 'key-a'],
    ]);
  });

  it('keeps older-style records (tokens only) countable', async () => {
    const store = await h.open();
    expect(
      await store.appendUsage([{ keyId: 'k', model: 'm', promptTokens: 1, completionTokens: 2, atMs: 5 }]),
    ).toBe(1);
    const [row] = await store.aggregateUsage({ fromMs: 0, toMs: 10, groupBy: ['key', 'site'] });
    expect(row).toMatchObject({ keyId: 'k', siteName: null, requests: 1, errors: 0, meanDurationMs: null });
  });
}
