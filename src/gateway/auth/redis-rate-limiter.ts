/**
 * The RateLimiter shared by several gateways through Redis. Each take is one Lua script (atomic on
 * the server): it reads the current and previous window counters, decides like sliding-window.ts
 * `admits`, and increments the current one, which expires after two windows. Budget totals are
 * plain INCRBY counters (kept 90 days after the last use; the usage ledger stays the durable record).
 *
 * A Redis outage never fails a request: while Redis is not connected, or when a command fails or
 * takes longer than `commandTimeoutMs`, the same call goes to an in-process LocalRateLimiter (limits
 * then hold per gateway) and a warning is logged (at most once per `warnEveryMs`). The client keeps
 * reconnecting in the background and Redis is used again once it answers. After a failed command the
 * checks stay local for `pauseAfterFailureMs`, then one tries Redis again (a Redis that keeps its
 * connection but stops answering would otherwise hold every request for its timeout); the counting
 * commands of that time still go to Redis, unwaited, so the shared totals miss nothing it answers.
 *
 * `close()` lets commands already sent get their replies, but waits at most `closeWaitMs` for them: a
 * command that timed out above is still queued in the client, and a Redis that never answers it (a
 * frozen link, a hung server) would otherwise hold the gateway's shutdown forever. Past that wait the
 * connection is dropped (`destroy()`).
 */
import { createClient } from 'redis';
import type { Logger } from '../../telemetry/logger.js';
import { redact } from '../../telemetry/redact-url.js';
import { withinMs } from '../sync/poll-loop.js';
import { LocalRateLimiter } from './local-rate-limiter.js';
import type { RateLimiter, TakeResult } from './rate-limiter.js';
import { retryAfterMs, windowStartMs } from './sliding-window.js';

export interface RedisRateLimiterOptions {
  /** `redis://[user:pass@]host:port[/db]` (or `rediss://`). */
  url: string;
  log: Logger;
  /** Prefix of every Redis key (default `edgefleet:limits:`); tests use a random one. */
  keyPrefix?: string;
  /** Default 250. */
  commandTimeoutMs?: number;
  /**
   * After a command fails or times out (a Redis that stops answering but keeps its connection), commands
   * go to the local counters for this long, then one tries Redis again while the others stay local;
   * default 1000.
   */
  pauseAfterFailureMs?: number;
  /** Default 30000. */
  warnEveryMs?: number;
  /** How long `close()` waits for replies to commands already sent before it drops the link; default 1000. */
  closeWaitMs?: number;
  /** Used when Redis is unavailable; default a new LocalRateLimiter. */
  fallback?: RateLimiter;
  now?: () => number;
}

const budgetTtlSeconds = 90 * 24 * 3600;
/** The most counting commands sent to a paused Redis without waiting for them. */
const maxUnwaited = 10_000;

/** KEYS: current window, previous window. ARGV: elapsedMs, windowMs, limit (-1: none), cost. */
const takeScript = `
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
local previous = tonumber(redis.call('GET', KEYS[2]) or '0')
local elapsed = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local limit = tonumber(ARGV[3])
local cost = tonumber(ARGV[4])
if limit >= 0 then
  local estimate = previous * (window - elapsed) / window + current
  local fits
  if cost > 0 then fits = estimate + cost <= limit else fits = estimate < limit end
  if not fits then return {0, previous, current} end
end
if cost > 0 then
  current = redis.call('INCRBY', KEYS[1], cost)
  redis.call('PEXPIRE', KEYS[1], window * 2 + 1000)
end
return {1, previous, current}
`;

export class RedisRateLimiter implements RateLimiter {
  private readonly client: ReturnType<typeof createClient>;
  private readonly fallback: RateLimiter;
  private readonly prefix: string;
  private readonly timeoutMs: number;
  private readonly warnEveryMs: number;
  private readonly closeWaitMs: number;
  private readonly now: () => number;
  private lastWarnAtMs = -Infinity;
  private closed = false;
  /** Redis failed a command: until when commands stay local, and whether one is trying it again. */
  private failing = false;
  private pausedUntilMs = 0;
  private retrying = false;
  /** Counting commands sent while paused and not answered yet. */
  private unwaited = 0;

  constructor(private readonly options: RedisRateLimiterOptions) {
    this.prefix = options.keyPrefix ?? 'edgefleet:limits:';
    this.timeoutMs = options.commandTimeoutMs ?? 250;
    this.warnEveryMs = options.warnEveryMs ?? 30_000;
    this.closeWaitMs = options.closeWaitMs ?? 1000;
    this.now = options.now ?? Date.now;
    this.fallback = options.fallback ?? new LocalRateLimiter(this.now);
    this.client = createClient({
      url: options.url,
      // Fail at once while disconnected instead of queueing (a request must not wait on Redis).
      disableOfflineQueue: true,
      socket: {
        connectTimeout: 2000,
        reconnectStrategy: (retries: number) => Math.min(100 * 2 ** Math.min(retries, 6), 5000),
      },
    });
    this.client.on('error', (error: unknown) => this.warn(error, 'Redis connection error'));
    this.client.connect().catch((error: unknown) => this.warn(error, 'cannot connect to Redis'));
  }

  /** Whether Redis is connected now (else the in-process fallback answers). */
  get connected(): boolean {
    return this.client.isReady;
  }

  /** Resolves once Redis is connected or `timeoutMs` passed (never rejects); call at start-up. */
  async ready(timeoutMs = 2000): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (!this.client.isReady && !this.closed && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    return this.client.isReady;
  }

  take(key: string, limit: number | null, cost: number, windowMs: number): Promise<TakeResult> {
    return this.withFallback(
      cost > 0,
      async () => {
        const nowMs = this.now();
        const startMs = windowStartMs(nowMs, windowMs);
        const elapsedMs = nowMs - startMs;
        const reply = (await this.client.eval(takeScript, {
          keys: [`${this.prefix}${key}:${startMs}`, `${this.prefix}${key}:${startMs - windowMs}`],
          arguments: [String(elapsedMs), String(windowMs), String(limit ?? -1), String(cost)],
        })) as unknown as [number, number, number];
        const [admitted, previous, current] = reply.map(Number) as [number, number, number];
        if (admitted === 1 || limit === null) return { admitted: true, retryAfterMs: 0 };
        return {
          admitted: false,
          retryAfterMs: Math.max(1, retryAfterMs({ previous, current, elapsedMs }, windowMs, limit, cost)),
        };
      },
      () => this.fallback.take(key, limit, cost, windowMs),
    );
  }

  addTotal(key: string, amount: number): Promise<number> {
    return this.withFallback(
      true,
      async () => {
        const redisKey = `${this.prefix}${key}`;
        const [total] = await this.client
          .multi()
          .incrBy(redisKey, amount)
          .expire(redisKey, budgetTtlSeconds)
          .exec();
        return Number(total);
      },
      () => this.fallback.addTotal(key, amount),
    );
  }

  total(key: string): Promise<number> {
    return this.withFallback(
      false,
      async () => Number((await this.client.get(`${this.prefix}${key}`)) ?? 0),
      () => this.fallback.total(key),
    );
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.fallback.close();
    if (!this.client.isOpen) return this.client.destroy();
    // close() resolves once every queued command has its reply; bounded, then the socket is dropped
    // (the commands still queued are rejected; their callers already fell back to local counters).
    const closing = this.client.close().then(
      () => true,
      () => true,
    );
    if (!(await withinMs(closing, this.closeWaitMs, () => false))) this.client.destroy();
  }

  /** `counts`: the command adds to a counter (sent to Redis even while paused, not waited for). */
  private async withFallback<T>(
    counts: boolean,
    viaRedis: () => Promise<T>,
    local: () => Promise<T>,
  ): Promise<T> {
    if (!this.client.isReady) {
      this.warn(null, 'Redis is not connected');
      return local();
    }
    // After a failure each request would wait out its own timeout: one at a time tries Redis again.
    // Meanwhile the checks are local, but what they count still goes to Redis (other gateways share
    // it), unwaited, and only so much of it at once: a Redis that stopped answering holds it queued.
    let retry = false;
    if (this.failing) {
      if (this.retrying || this.now() < this.pausedUntilMs) {
        if (counts && this.unwaited < maxUnwaited) {
          this.unwaited += 1;
          viaRedis()
            .catch(() => undefined)
            .finally(() => (this.unwaited -= 1));
        }
        return local();
      }
      this.retrying = retry = true;
    }
    let timer: NodeJS.Timeout | undefined;
    try {
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${this.timeoutMs} ms`)), this.timeoutMs);
      });
      const result = await Promise.race([viaRedis(), timeout]);
      this.failing = false;
      return result;
    } catch (error) {
      this.warn(error, 'Redis command failed');
      this.failing = true;
      this.pausedUntilMs = this.now() + (this.options.pauseAfterFailureMs ?? 1000);
      return local();
    } finally {
      clearTimeout(timer);
      if (retry) this.retrying = false;
    }
  }

  private warn(error: unknown, message: string): void {
    if (this.closed) return;
    const nowMs = Date.now();
    if (nowMs - this.lastWarnAtMs < this.warnEveryMs) return;
    this.lastWarnAtMs = nowMs;
    this.options.log.warn(
      { err: error ?? undefined, redis: redact(this.options.url) },
      `${message}; rate limits fall back to this gateway's own counters`,
    );
  }
}
