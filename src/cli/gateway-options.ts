/**
 * The gateway flags `edgefleet server`, `up` and `gateway` share: `--routing-config FILE` (the routing
 * policy and its weights, YAML or JSON, read once), `--cors-origins LIST` (web origins allowed to call
 * `/v1`), `--redis URL` (key limits shared by gateways) and `--journal-sync MODE` (when the usage journal
 * is fsynced).
 */
import { LocalRateLimiter } from '../gateway/auth/local-rate-limiter.js';
import type { RateLimiter } from '../gateway/auth/rate-limiter.js';
import { journalSyncModes, type JournalSync } from '../gateway/metering/usage-journal.js';
import { parseRoutingConfig, type RoutingConfig } from '../gateway/routing/routing-config.js';
import { parseCorsOrigins, type CorsOrigins } from '../http/cors.js';
import { EdgeFleetError } from '../spec/edgefleet-error.js';
import { redact } from '../telemetry/redact-url.js';
import type { Logger } from '../telemetry/logger.js';
import { readFlagFile } from './parse-flags.js';

export const routingFlagsHelp = `  --routing-config FILE routing policy and weights, YAML or JSON (docs/gateway.md)
  --cors-origins LIST   web origins whose pages may call /v1 from a browser: * or
                        https://chat.example.com,http://localhost:3000 (default: none, no CORS headers)
  --redis URL           share API-key rate limits with other gateways through Redis (also EDGEFLEET_REDIS_URL)
  --journal-sync MODE   usage journal: always (default; fsynced before each answer ends) or interval (written
                        at once, fsynced every 200 ms: a gateway crash loses nothing, a power cut ≤ 200 ms)
`;

/** `--journal-sync always|interval`. */
export function journalSyncOption(flag: string | undefined): { journalSync?: JournalSync } {
  if (flag === undefined) return {};
  if (!(journalSyncModes as readonly string[]).includes(flag)) {
    throw new EdgeFleetError('invalid_argument', `--journal-sync must be always or interval, not "${flag}"`, {
      param: 'journal-sync',
    });
  }
  return { journalSync: flag as JournalSync };
}

export async function routingOption(file: string | undefined): Promise<{ routing?: RoutingConfig }> {
  if (file === undefined) return {};
  return { routing: parseRoutingConfig(await readFlagFile(file, 'routing-config')) };
}

/** `--cors-origins LIST`. */
export function corsOption(flag: string | undefined): { cors?: CorsOrigins } {
  return flag === undefined ? {} : { cors: parseCorsOrigins(flag) };
}

/** `--redis URL`, else EDGEFLEET_REDIS_URL, else none (limits counted per process). */
export function redisOption(flag: string | undefined): { redisUrl?: string } {
  const url = flag ?? process.env['EDGEFLEET_REDIS_URL'];
  return url ? { redisUrl: url } : {};
}

/** Key-limit counters: in Redis when a URL is given (waits up to 2 s for it, never fails), else in process. */
export async function makeLimiter(redisUrl: string | undefined, log: Logger): Promise<RateLimiter> {
  if (!redisUrl) return new LocalRateLimiter();
  // Loaded only when asked for: the Redis client is most of what a gateway would load at start.
  const { RedisRateLimiter } = await import('../gateway/auth/redis-rate-limiter.js');
  const limiter = new RedisRateLimiter({ url: redisUrl, log: log.child({ component: 'limits' }) });
  if (!(await limiter.ready(2000))) {
    log.warn(
      { redis: redact(redisUrl) },
      'Redis is not reachable yet; key limits are counted locally until it is',
    );
  }
  return limiter;
}
