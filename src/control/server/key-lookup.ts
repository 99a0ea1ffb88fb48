/**
 * The store-backed lookup behind the gateway's key guard: bearer secret → KeyPrincipal, cached per
 * secret hash for `cacheMs` (default 5 s) so the request path does not query the database each time.
 * Consequence: a revoked key (or a changed limit) takes effect within `cacheMs`. When the store fails,
 * a cached answer up to `staleMs` old (default 10 min) is used, so a room keeps serving its users
 * while the database is unreachable. Each database load also sets the key's `lastUsedAtMs`.
 */
import type { KeyPrincipal } from '../../spec/api-keys.js';
import type { Store } from '../../store/store.js';
import type { ApiKey } from '../../store/store-types.js';
import type { Logger } from '../../telemetry/logger.js';
import { hashSecret, hashesEqual } from '../../http/bearer-secret.js';

export interface StoreKeyLookupOptions {
  store: Store;
  log?: Logger;
  /** How long an answer (also "no such key") is reused. Default 5000. */
  cacheMs?: number;
  /** How old a cached answer may be when the store is failing. Default 600000. */
  staleMs?: number;
  /** Most secrets kept; the cache is emptied when full (guessing keys cannot grow memory). Default 10000. */
  maxEntries?: number;
  now?: () => number;
}

interface Entry {
  loadedAtMs: number;
  principal: Promise<KeyPrincipal | null>;
  settled: KeyPrincipal | null | undefined;
  /** The last entry that loaded, while this one loads or after it failed: the stale fallback. */
  previous: Entry | undefined;
}

export class StoreKeyLookup {
  private readonly cache = new Map<string, Entry>();
  private readonly cacheMs: number;
  private readonly staleMs: number;
  private readonly maxEntries: number;
  private readonly now: () => number;

  constructor(private readonly options: StoreKeyLookupOptions) {
    this.cacheMs = options.cacheMs ?? 5000;
    this.staleMs = options.staleMs ?? 600_000;
    this.maxEntries = options.maxEntries ?? 10_000;
    this.now = options.now ?? Date.now;
  }

  /**
   * The principal of a secret; null when the key is unknown or revoked. Pass as KeyGuard's `lookup`.
   * Concurrent lookups of one secret share one load; when it fails, each of them gets the stale answer.
   */
  readonly lookup = async (secret: string): Promise<KeyPrincipal | null> => {
    const hash = hashSecret(secret);
    const nowMs = this.now();
    let entry = this.cache.get(hash);
    if (!entry || nowMs - entry.loadedAtMs >= this.cacheMs) {
      const previous = entry?.settled !== undefined ? entry : entry?.previous;
      entry = { loadedAtMs: nowMs, principal: this.load(hash, nowMs), settled: undefined, previous };
      if (this.cache.size >= this.maxEntries) this.cache.clear();
      this.cache.set(hash, entry);
    }
    try {
      entry.settled = await entry.principal;
      entry.previous = undefined;
      return entry.settled;
    } catch (error) {
      const stale = entry.previous;
      // The next lookup loads again (from the stale entry, so that it keeps the fallback).
      if (this.cache.get(hash) === entry) {
        if (stale) this.cache.set(hash, stale);
        else this.cache.delete(hash);
      }
      if (stale?.settled !== undefined && this.now() - stale.loadedAtMs < this.staleMs) {
        this.options.log?.warn({ err: error }, 'API key lookup failed; using the cached answer');
        return stale.settled;
      }
      throw error;
    }
  };

  /** Forgets every cached answer (tests; or after a revocation in this process). */
  clear(): void {
    this.cache.clear();
  }

  private async load(hash: string, nowMs: number): Promise<KeyPrincipal | null> {
    const { store } = this.options;
    const key = await store.findApiKeyByHash(hash);
    if (!key || key.revokedAtMs !== null || !hashesEqual(key.keyHash, hash)) return null;
    const tokensAtMs = Date.now();
    const tokensUsed = key.tokenBudget === null ? 0 : await store.totalTokensForKey(key.id);
    store.touchApiKey(key.id, nowMs).catch((error: unknown) => {
      this.options.log?.warn({ err: error, keyId: key.id }, 'could not record when an API key was used');
    });
    return { ...principalOf(key, tokensUsed), tokensUsedAtMs: tokensAtMs };
  }
}

/** What the gateway's key guard knows of a stored key. */
export function principalOf(key: ApiKey, tokensUsed: number): KeyPrincipal {
  return {
    keyId: key.id,
    name: key.name,
    role: key.role,
    allowedModels: key.allowedModels,
    rpm: key.rpm,
    tpm: key.tpm,
    tokenBudget: key.tokenBudget,
    region: key.region,
    tokensUsed,
  };
}
