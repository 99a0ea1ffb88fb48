/**
 * A room gateway's record of the tokens it shipped to the control plane lately, per key with a budget
 * (`<home>/gateway-cache/shipped-tokens.json`, worker i `shipped-tokens-i.json`): kept so that a gateway
 * restarted while the control plane is unreachable, serving from a key list cached before those
 * shipments, still counts them against the keys' token budgets.
 */
import type { Logger } from '../../telemetry/logger.js';
import { UnledgeredTokens, type ShippedTokens } from '../auth/unledgered-tokens.js';
import { DiskCache } from './disk-cache.js';

export function shippedTokensFile(workerIndex: number): string {
  return workerIndex === 0 ? 'shipped-tokens.json' : `shipped-tokens-${workerIndex}.json`;
}

export interface KeptUnledgered {
  tokens: UnledgeredTokens;
  /**
   * Writes the shipments after `sinceMs` (when the key list in use was pulled: it holds the older ones),
   * now or, while a write is going on, once it is done (one write at a time, the latest asked for;
   * failures are logged).
   */
  save(sinceMs: number | undefined): void;
  /** Resolves when the writes asked for have finished. */
  saved(): Promise<void>;
}

function parseShipped(value: unknown): ShippedTokens {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Error('not an object');
  const kept: ShippedTokens = {};
  for (const [keyId, list] of Object.entries(value as Record<string, unknown>)) {
    if (!Array.isArray(list)) throw new Error(`${keyId}: not a list`);
    kept[keyId] = list.map((entry: unknown) => {
      const { atMs, tokens } = (entry ?? {}) as { atMs?: unknown; tokens?: unknown };
      if (typeof atMs !== 'number' || typeof tokens !== 'number') throw new Error(`${keyId}: bad entry`);
      return { atMs, tokens };
    });
  }
  return kept;
}

/** The unledgered tokens of a gateway that starts, with the shipments its earlier run kept on disk. */
export async function restoredUnledgered(path: string, log: Logger): Promise<KeptUnledgered> {
  const cache = new DiskCache(path, parseShipped);
  const tokens = new UnledgeredTokens();
  const loaded = await cache.load();
  if (loaded.value) tokens.restoreShipped(loaded.value);
  else if (loaded.error !== undefined)
    log.warn({ err: loaded.error, path }, 'shipped-tokens cache unreadable; ignored');
  let writing: Promise<void> | undefined;
  let wanted: { sinceMs: number | undefined } | undefined;
  const write = async (): Promise<void> => {
    while (wanted) {
      const { sinceMs } = wanted;
      wanted = undefined;
      await cache
        .save(tokens.shippedTokens(sinceMs))
        .catch((error: unknown) => log.warn({ err: error, path }, 'could not save the shipped-tokens cache'));
    }
    writing = undefined;
  };
  return {
    tokens,
    save: (sinceMs) => {
      wanted = { sinceMs };
      writing ??= write();
    },
    saved: async () => {
      await writing;
    },
  };
}
