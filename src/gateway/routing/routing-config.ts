/**
 * The gateway's routing configuration: policy, score weights, prefix affinity, measurement defaults,
 * circuit breaker, active health checks, retries and the retry budget, and where clients are (their
 * region by CIDR). Every field has a default, so an empty file (or none) is a working configuration.
 * Read once (`parseRoutingConfig`) from YAML or JSON, then frozen. Documented in docs/gateway.md,
 * "Routing".
 */
import { z } from 'zod';
import { parse as parseYaml } from 'yaml';
import { EdgeFleetError } from '../../spec/edgefleet-error.js';
import { parseCidr } from './client-region.js';

const ms = z
  .number()
  .int()
  .min(0)
  .max(24 * 3600_000);
const positiveMs = z
  .number()
  .int()
  .min(1)
  .max(24 * 3600_000);
const weight = z.number().min(0).max(1000);
const ratio = z.number().min(0).max(1);

const cidrEntry = z.strictObject({
  cidr: z.string().refine((text) => parseCidr(text) !== null, 'an IPv4 or IPv6 CIDR such as 10.1.0.0/16'),
  region: z.string().min(1).max(128),
});

export const routingConfigSchema = z
  .strictObject({
    /**
     * `least-cost`: the scored order (health → client region → cost → prefix affinity); `round-robin`:
     * health, breaker and region still apply, measurements do not.
     */
    policy: z.enum(['least-cost', 'round-robin']).default('least-cost'),
    /** This gateway's own region: the client's region when nothing else tells it. */
    region: z.string().min(1).max(128).optional(),
    /** Client address ranges → region; the longest matching prefix wins. */
    clientRegions: z.array(cidrEntry).max(10_000).default([]),
    /** Read the client address from the first `x-forwarded-for` entry (only behind a trusted proxy). */
    trustForwardedFor: z.boolean().default(false),
    /** Multipliers of the cost terms (all in milliseconds of expected delay); 0 switches a term off. */
    weights: z
      .strictObject({
        rtt: weight.default(1),
        work: weight.default(1),
        speed: weight.default(1),
        kvCache: weight.default(1),
        prompt: weight.default(1),
      })
      .prefault({}),
    locality: z
      .strictObject({
        /** Prefer instances in the client's region while one of them has capacity. */
        preferClientRegion: z.boolean().default(true),
        /** An instance whose KV cache is this full has no capacity (spill to other regions). */
        saturatedKvCacheUsage: ratio.default(0.95),
        /** An instance with this many requests running, queued or just sent has no capacity. */
        saturatedOutstanding: z.number().int().min(1).default(64),
      })
      .prefault({}),
    prefixAffinity: z
      .strictObject({
        enabled: z.boolean().default(true),
        /** Leading characters of the prompt (or of the messages' text) that make up the affinity key. */
        chars: z.number().int().min(16).max(65_536).default(256),
        /** Affinity is overridden while its instance has this many requests outstanding... */
        maxOutstanding: z.number().int().min(1).default(4),
        /** ...or its KV cache is fuller than this. */
        maxKvCacheUsage: ratio.default(0.9),
        /** Only instances whose time per output token is within this factor of the fastest share prefixes. */
        maxSlowdown: z.number().min(1).max(1000).default(1.5),
        /** ...and whose site's round trip is within this of the nearest (one room's instances, not a far one). */
        maxExtraRttMs: z.number().min(0).max(60_000).default(10),
        /**
         * ...and overridden while its prompt term (the prompts ahead there, and this one) is more than
         * this above the lowest among the instances that could share the prefix.
         */
        maxPromptWorkAheadMs: z.number().min(0).max(3_600_000).default(1000),
      })
      .prefault({}),
    measurement: z
      .strictObject({
        /** Smoothing of every moving average (weight of the newest sample). */
        ewmaAlpha: z.number().gt(0).max(1).default(0.3),
        /** Time per output token assumed before anything is measured. */
        defaultTimePerOutputTokenMs: z.number().positive().max(60_000).default(20),
        /** Time per prompt token (prompt processing) assumed before anything is measured. */
        defaultTimePerPromptTokenMs: z.number().positive().max(60_000).default(0.5),
        /** Completion tokens per request assumed before the model's answers are measured. */
        defaultCompletionTokens: z.number().int().min(1).default(256),
        /** Answers an instance needs before its own speed counts (until then it is assumed as fast as the best). */
        warmupSamples: z.number().int().min(0).max(1000).default(3),
        /** A speed not measured for this long is stale: retried one request at a time, replaced by the next. */
        remeasureAfterMs: positiveMs.default(30_000),
        /** Engine load reported by a worker older than this is ignored. */
        loadMaxAgeMs: positiveMs.default(10_000),
      })
      .prefault({}),
    circuitBreaker: z
      .strictObject({
        /** After any failure (refused, 5xx, 429, cut stream) an instance sits out this long. */
        cooldownMs: ms.default(1000),
        /** Consecutive failures that open the breaker. */
        failureThreshold: z.number().int().min(1).max(1000).default(3),
        /** How long an open breaker stays open before one trial request (half-open). */
        openMs: positiveMs.default(10_000),
      })
      .prefault({}),
    healthCheck: z
      .strictObject({
        enabled: z.boolean().default(true),
        path: z.string().startsWith('/').default('/health'),
        intervalMs: positiveMs.default(5000),
        timeoutMs: positiveMs.default(2000),
        /** Consecutive failed checks before an instance is skipped. */
        unhealthyAfter: z.number().int().min(1).max(100).default(2),
        /** Consecutive good checks before a skipped instance is used again. */
        healthyAfter: z.number().int().min(1).max(100).default(1),
      })
      .prefault({}),
    retry: z
      .strictObject({
        /** Instances tried per request, the first included. */
        maxAttempts: z.number().int().min(1).max(10).default(3),
        /** No retry starts later than this after the request arrived. */
        maxElapsedMs: positiveMs.default(15_000),
        /** Retries allowed as a share of the requests in the budget window... */
        budgetRatio: ratio.default(0.2),
        /** ...plus this many per window, so a quiet gateway can still retry. */
        budgetMinRetries: z.number().int().min(0).max(100_000).default(5),
        budgetWindowMs: positiveMs.default(10_000),
      })
      .prefault({}),
    timeouts: z
      .strictObject({
        /**
         * An instance that sends no answer (headers) this long after the request is taken as refusing it:
         * cut, counted against its breaker, retried elsewhere when still allowed. A non-streamed answer's
         * headers come with its end, so this bounds a whole non-streamed generation.
         */
        firstByteMs: positiveMs.default(600_000),
        /** An answer that sends nothing for this long is cut (a stream ends with an error event). */
        idleMs: positiveMs.default(120_000),
      })
      .prefault({}),
  })
  .superRefine((config, ctx) => {
    if (config.policy === 'least-cost' && Object.values(config.weights).every((w) => w === 0)) {
      ctx.addIssue({
        code: 'custom',
        path: ['weights'],
        message: 'every weight is 0, so every cost is equal (for that, set policy: round-robin)',
      });
    }
  });

export type RoutingConfig = z.infer<typeof routingConfigSchema>;
export type RoutingConfigInput = z.input<typeof routingConfigSchema>;

/** The defaults (what a gateway without a routing file uses). */
export function defaultRoutingConfig(overrides: RoutingConfigInput = {}): RoutingConfig {
  return deepFreeze(routingConfigSchema.parse(overrides));
}

/**
 * A routing file's text (YAML, of which JSON is a subset) → the frozen configuration; throws
 * `invalid_argument` naming the first bad field.
 */
export function parseRoutingConfig(text: string): RoutingConfig {
  let raw: unknown;
  try {
    raw = text.trim() === '' ? {} : parseYaml(text);
  } catch (error) {
    throw new EdgeFleetError('invalid_argument', `routing config: not YAML or JSON: ${String(error)}`, {
      cause: error,
    });
  }
  const parsed = routingConfigSchema.safeParse(raw ?? {});
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue && issue.path.length > 0 ? issue.path.join('.') : '(top level)';
    throw new EdgeFleetError('invalid_argument', `routing config: ${where}: ${issue?.message ?? 'invalid'}`);
  }
  return deepFreeze(parsed.data);
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    for (const inner of Object.values(value)) deepFreeze(inner);
    Object.freeze(value);
  }
  return value;
}
