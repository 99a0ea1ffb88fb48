import { randomBytes } from 'node:crypto';
import { pino } from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { RedisRateLimiter } from '../../src/gateway/auth/redis-rate-limiter.js';
import { startFreezeProxy, type FreezeProxy } from '../helpers/freeze-proxy.js';

/** The test Redis (started on every machine and in CI). */
const redisUrl = new URL(process.env['EDGEFLEET_TEST_REDIS_URL'] ?? 'redis://127.0.0.1:6379');

/**
 * A gateway's shutdown closes its Redis rate limiter. node-redis's close() waits for the reply of every
 * command still queued; a command the limiter gave up on (250 ms, then local counters) stays queued, so
 * with a Redis that stopped answering the close — and the gateway's exit — used to wait forever.
 */
describe('RedisRateLimiter.close with Redis not answering', () => {
  const proxies: FreezeProxy[] = [];
  const limiters: RedisRateLimiter[] = [];
  afterAll(async () => {
    await Promise.all(limiters.map((l) => l.close()));
    await Promise.all(proxies.map((p) => p.close()));
  });

  const frozenLimiter = async () => {
    const proxy = await startFreezeProxy({ host: redisUrl.hostname, port: Number(redisUrl.port || 6379) });
    proxies.push(proxy);
    const url = new URL(redisUrl);
    url.host = `127.0.0.1:${proxy.port}`;
    const limiter = new RedisRateLimiter({
      url: url.toString(),
      log: pino({ level: 'silent' }),
      keyPrefix: `edgefleet-test:${randomBytes(6).toString('hex')}:`,
    });
    limiters.push(limiter);
    expect(await limiter.ready()).toBe(true);
    // Through the proxy while it forwards: Redis answers.
    expect(await limiter.take('rpm:k', 10, 1, 60_000)).toEqual({ admitted: true, retryAfterMs: 0 });
    proxy.freeze();
    return limiter;
  };

  it('returns within about a second when a command is still waiting for its reply', async () => {
    const limiter = await frozenLimiter();
    // The request is not held up: after the command timeout the local counters answer.
    const started = Date.now();
    expect(await limiter.take('rpm:k', 10, 1, 60_000)).toEqual({ admitted: true, retryAfterMs: 0 });
    expect(Date.now() - started).toBeLessThan(1000);

    const closing = Date.now();
    const closed = await Promise.race([
      limiter.close().then(() => 'closed'),
      new Promise((resolve) => setTimeout(() => resolve('still closing after 5 s'), 5000)),
    ]);
    expect(closed).toBe('closed');
    expect(Date.now() - closing).toBeGreaterThanOrEqual(900); // it did wait for the reply first
    expect(Date.now() - closing).toBeLessThan(3000);
    expect(limiter.connected).toBe(false);
  });

  it('closes at once when nothing is waiting, even with the link frozen', async () => {
    const limiter = await frozenLimiter();
    const closing = Date.now();
    await limiter.close();
    expect(Date.now() - closing).toBeLessThan(500);
  });
});
