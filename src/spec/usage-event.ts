/**
 * One request as the gateway meters it: written to the gateway's local journal before the response
 * completes, then shipped to the control plane's store (idempotent by `id`).
 */
import { z } from 'zod';

export const usageEventSchema = z.strictObject({
  id: z.string().min(1).max(64),
  atMs: z.number().int().min(0),
  /** API key id, or `anonymous` where `/v1` needs no key (`edgefleet up` on loopback). */
  keyId: z.string().min(1).max(128),
  model: z.string().min(1).max(256),
  siteName: z.string().max(256).nullable(),
  instanceId: z.string().max(128).nullable(),
  route: z.string().max(64),
  promptTokens: z.number().int().min(0),
  completionTokens: z.number().int().min(0),
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
