/**
 * One request as the gateway meters it: written to the gateway's local journal before the response
 * completes, then shipped to the control plane's store (idempotent by `id`).
 */
import { z } from 'zod';

/**
 * The most prompt or completion tokens one request can be metered with: far beyond any context window,
 * and low enough that the store's 64-bit sums hold some 46 billion records at the limit (the schema's
 * old limit, Number.MAX_SAFE_INTEGER, overflowed them with 2,000). An engine reporting more
 * is not believed (the gateway counts the tokens itself) and a usage event claiming more is refused.
 */
export const maxUsageTokens = 100_000_000;

/**
 * Fields this version does not know are dropped, not refused: a room gateway newer than its control plane
 * (a field added since) still ships its journal, and an older gateway still reads a newer one's journal.
 */
export const usageEventSchema = z.object({
  id: z.string().min(1).max(64),
  atMs: z.number().int().min(0),
  /** API key id, or `anonymous` where `/v1` needs no key (`edgefleet up` on loopback). */
  keyId: z.string().min(1).max(128),
  model: z.string().min(1).max(256),
  /** The room whose instance answered; null when none was reached (refused, no instance). */
  siteName: z.string().max(256).nullable(),
  /**
   * The room of the gateway that took the request (`edgefleet gateway --site`); null at the control
   * plane's own gateway. Absent in journals written before it was kept.
   */
  gatewaySite: z.string().max(256).nullable().optional(),
  instanceId: z.string().max(128).nullable(),
  route: z.string().max(64),
  promptTokens: z.number().int().min(0).max(maxUsageTokens),
  completionTokens: z.number().int().min(0).max(maxUsageTokens),
  /** Gateway arrival → first generated text, for streams. */
  ttftMs: z.number().min(0).nullable(),
  durationMs: z.number().min(0),
  /** HTTP status sent to the client. */
  status: z.number().int().min(100).max(599),
  /** `ok`, `broken` (cut after the first byte), `error` (an error answer), `aborted` (client left). */
  outcome: z.enum(['ok', 'broken', 'error', 'aborted']),
  /** True when neither the engine nor its tokenizer API gave the tokens and the gateway estimated them. */
  usageEstimated: z.boolean(),
});
export type UsageEvent = z.infer<typeof usageEventSchema>;
