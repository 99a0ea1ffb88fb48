import { randomBytes } from 'node:crypto';
import { connect, createServer, type Socket } from 'node:net';
import { pino } from 'pino';
import { createClient } from 'redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KeyPrincipal } from '../../spec/api-keys.js';
import { EdgeFleetError } from '../../spec/edgefleet-error.js';
import { KeyGuard } from './key-guard.js';
import { RedisRateLimiter } from './redis-rate-limiter.js';
import { testPrincipal } from '../../../test/helpers/principals.js';

/** The test Redis (started on every machine and in CI). */
const redisUrl = process.env['EDGEFLEET_TEST_REDIS_URL'] ?? 'redis://127.0.0.1:6379';

const principal = (overrides: Partial<KeyPrincipal>): KeyPrincipal =>
  testPrincipal(`key-${randomBytes(4).toString('hex')}`, { name: 'app', ...overrides });

async function waitUntil(check: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

async function codeOf(promise: Promise<unknown>): Promise<string | null> {
  try {
    await promise;
    return null;
  } catch (error) {
    if (error instanceof EdgeFleetError) return error.code;
    throw error;
  }
}

describe('RedisRateLimiter', () => {
  const prefix = `edgefleet-test:${randomBytes(6).toString('hex')}:`;
  const admin = createClient({ url: redisUrl });
  const opened: RedisRateLimiter[] = [];
  const log = pino({ level: 'silent' });
  const limiter = (url = redisUrl, warn?: (message: string) => void) => {
    const logger = warn ? pino({ level: 'warn' }, { write: (line: string) => warn(line) }) : log;
    const created = new RedisRateLimiter({ url, log: logger, keyPrefix: prefix });
    opened.push(created);
    return created;
  };

  beforeAll(async () => {
    await admin.connect();
  });
  afterAll(async () => {
    await Promise.all(opened.map((l) => l.close()));
    const keys = await admin.keys(`${prefix}*`);
    if (keys.length > 0) await admin.del(keys);
    await admin.close();
  });

  it('lets two gateways sharing one Redis enforce one combined rpm limit', async () => {
    const [a, b] = [limiter(), limiter()];
    expect(await Promise.all([a.ready(), b.ready()])).toEqual([true, true]);
    const guards = [a, b].map((l) => new KeyGuard({ lookup: () => Promise.resolve(null), limiter: l }));
    const p = principal({ rpm: 5 });
    const outcomes = await Promise.all(
      Array.from({ length: 12 }, (_, i) => codeOf(guards[i % 2]!.admit(p, 'm'))),
    );
    expect(outcomes.filter((o) => o === null)).toHaveLength(5);
    expect(outcomes.filter((o) => o === 'rate_limited')).toHaveLength(7);
    // The counter lives in Redis under the test prefix, with an expiry.
    const keys = await admin.keys(`${prefix}rpm:${p.keyId}:*`);
    expect(keys).toHaveLength(1);
    expect(await admin.get(keys[0]!)).toBe('5');
    expect(await admin.pTTL(keys[0]!)).toBeGreaterThan(60_000);
  });

  it('shares tpm and the token budget between gateways', async () => {
    const [a, b] = [limiter(), limiter()];
    await waitUntil(() => a.connected && b.connected);
    const [ga, gb] = [a, b].map((l) => new KeyGuard({ lookup: () => Promise.resolve(null), limiter: l }));
    const tpm = principal({ tpm: 100 });
    await ga!.admit(tpm, 'm');
    await ga!.record(tpm, 60, 40);
    expect(await codeOf(gb!.admit(tpm, 'm'))).toBe('rate_limited');

    const budget = principal({ tokenBudget: 1000 });
    await ga!.record(budget, 500, 0);
    await gb!.admit(budget, 'm');
    await gb!.record(budget, 250, 250);
    expect(await codeOf(ga!.admit(budget, 'm'))).toBe('rate_limited');
    expect(await b.total(`budget:${budget.keyId}`)).toBe(1000);
  });

  it('does not hold every request for its timeout while Redis stops answering, and comes back to it', async () => {
    // A proxy to the test Redis that can freeze: it keeps the connection and holds what it is sent (a
    // Redis stopped with SIGSTOP, or a link that drops packets), then delivers it when thawed.
    const target = new URL(redisUrl);
    let frozen = false;
    const held: [Socket, Buffer][] = [];
    const proxy = createServer((client) => {
      const upstream = connect(Number(target.port || 6379), target.hostname);
      client.on('data', (data) => (frozen ? held.push([upstream, data]) : upstream.write(data)));
      upstream.on('data', (data) => client.write(data));
      client.on('error', () => upstream.destroy());
      upstream.on('error', () => client.destroy());
      client.on('close', () => upstream.destroy());
    });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    const url = new URL(redisUrl);
    url.hostname = '127.0.0.1';
    url.port = String((proxy.address() as { port: number }).port);
    try {
      const viaProxy = limiter(url.toString());
      expect(await viaProxy.ready(2000)).toBe(true);
      const guard = new KeyGuard({ lookup: () => Promise.resolve(null), limiter: viaProxy });
      const p = principal({ rpm: 1000, tpm: 100_000, tokenBudget: 1_000_000 });
      await guard.admit(p, 'm');
      frozen = true;
      // Three Redis commands per request (budget, tpm, rpm), 250 ms each if every one waited.
      const started = Date.now();
      for (let i = 0; i < 10; i++) expect(await codeOf(guard.admit(p, 'm'))).toBeNull();
      expect(Date.now() - started).toBeLessThan(2000); // was 10 × 750 ms
      // What the paused gateway counts still goes to Redis, for the other gateways that share it.
      for (let i = 0; i < 5; i++) await guard.record(p, 10, 0);
      frozen = false;
      for (const [socket, data] of held.splice(0)) socket.write(data);
      await new Promise((resolve) => setTimeout(resolve, 1100)); // the pause after a failure
      await guard.admit(p, 'm'); // tries Redis again, and it answers
      const keys = await admin.keys(`${prefix}*${p.keyId}*`);
      const before = (await Promise.all(keys.map((k) => admin.get(k)))).join();
      await guard.admit(p, 'm');
      expect((await Promise.all(keys.map((k) => admin.get(k)))).join()).not.toBe(before); // counted there
      expect(await admin.get(`${prefix}budget:${p.keyId}`)).toBe('50');
    } finally {
      proxy.close();
    }
  });

  it('falls back to in-process limits, without throwing, when Redis is unreachable', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as { port: number }).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));

    const warnings: string[] = [];
    const down = limiter(`redis://127.0.0.1:${port}`, (line) => warnings.push(line));
    const guard = new KeyGuard({ lookup: () => Promise.resolve(null), limiter: down });
    const p = principal({ rpm: 2, tpm: 50 });
    expect(await down.ready(300)).toBe(false);
    const started = Date.now();
    expect(await codeOf(guard.admit(p, 'm'))).toBeNull();
    expect(await codeOf(guard.admit(p, 'm'))).toBeNull();
    expect(await codeOf(guard.admit(p, 'm'))).toBe('rate_limited');
    await guard.record(principal({ tpm: 50, keyId: 'other' }), 10, 10);
    expect(Date.now() - started).toBeLessThan(2000);
    expect(down.connected).toBe(false);
    await waitUntil(() => warnings.length > 0);
    expect(warnings.join('\n')).toMatch(/fall back to this gateway's own counters/);
  });
});
