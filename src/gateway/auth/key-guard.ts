/**
 * The gateway's per-request key check. Per request the gateway calls:
 *   1. `authenticate(authorization header)` → the key's principal (401 when missing, unknown or
 *      revoked), through the injected `lookup` (the control plane's cached store lookup);
 *   2. `admit(principal, model)` before forwarding: 403 `forbidden` for a model outside the key's
 *      allow-list; 429 `rate_limited` when the token budget is spent (no retry-after: a budget does
 *      not refill), when the tokens counted this minute reached `tpm`, or when `rpm` is reached
 *      (both with `retry-after`). A refused request counts toward nothing;
 *   3. `record(principal, promptTokens, completionTokens)` after the answer, so tpm and the budget
 *      count it. It never throws.
 * Budget spent = the usage ledger's total when the key was looked up plus the tokens this gateway
 * counted that the total does not hold (unledgered-tokens.ts), or the limiter's lifetime counter when
 * that is higher (with Redis it holds what every gateway counted, including what they have not shipped).
 */
import { bearerToken } from '../../http/bearer-secret.js';
import { EdgeFleetError } from '../../spec/edgefleet-error.js';
import { inferenceRoles, type ApiKeyRoleName, type KeyPrincipal } from '../../spec/api-keys.js';
import type { Logger } from '../../telemetry/logger.js';
import type { UsageEvent } from '../../spec/usage-event.js';
import type { RateLimiter } from './rate-limiter.js';
import { UnledgeredTokens } from './unledgered-tokens.js';

export interface KeyGuardOptions {
  /** Bearer secret → principal; null when the key is unknown or revoked. */
  lookup: (secret: string) => Promise<KeyPrincipal | null>;
  limiter: RateLimiter;
  log?: Logger;
  /** The rpm/tpm window. Default 60000 (per minute). */
  windowMs?: number;
  /** Tokens no ledger total holds yet (a room gateway passes its own, to keep its shipments on disk). */
  unledgered?: UnledgeredTokens;
}

/** Whether the key may call `model` (no allow-list: every model). */
export function allowsModel(principal: KeyPrincipal, model: string): boolean {
  return principal.allowedModels === null || principal.allowedModels.includes(model);
}

export class KeyGuard {
  private readonly windowMs: number;
  private readonly unledgered: UnledgeredTokens;

  constructor(private readonly options: KeyGuardOptions) {
    this.windowMs = options.windowMs ?? 60_000;
    this.unledgered = options.unledgered ?? new UnledgeredTokens();
  }

  /**
   * The principal of an `Authorization: Bearer <key>` header value; 401 otherwise, and 403 when the
   * key's role is not one of `roles` (by default those that may call `/v1`; `what` names the route).
   */
  async authenticate(
    authorization: string | undefined,
    roles: readonly ApiKeyRoleName[] = inferenceRoles,
    what = '/v1',
  ): Promise<KeyPrincipal> {
    const principal = await this.options.lookup(bearerToken(authorization));
    if (!principal) throw new EdgeFleetError('unauthorized', 'invalid or revoked API key');
    if (!roles.includes(principal.role)) {
      throw new EdgeFleetError(
        'forbidden',
        `API key "${principal.name}" (role ${principal.role}) may not use ${what} (role ${roles.join(' or ')} required)`,
      );
    }
    return principal;
  }

  /** Throws 403 or 429 when the request may not go on; else counts one request toward rpm. */
  async admit(principal: KeyPrincipal, model: string): Promise<void> {
    const { limiter } = this.options;
    if (!allowsModel(principal, model)) {
      const allowed = principal.allowedModels?.join(', ') ?? '';
      throw new EdgeFleetError(
        'forbidden',
        `API key "${principal.name}" may not use the model "${model}" (allowed: ${allowed})`,
        { param: 'model', data: { model } },
      );
    }
    if (principal.tokenBudget !== null) {
      const counted = await limiter.total(budgetKey(principal));
      const ledgered =
        principal.tokensUsed + this.unledgered.notIn(principal.keyId, principal.tokensUsedAtMs);
      const spent = Math.max(ledgered, counted);
      if (spent >= principal.tokenBudget) {
        throw new EdgeFleetError(
          'rate_limited',
          `API key "${principal.name}" has used its token budget (${spent} of ${principal.tokenBudget} tokens)`,
          { data: { limit: 'token_budget', tokenBudget: principal.tokenBudget, tokensUsed: spent } },
        );
      }
    }
    if (principal.tpm !== null) {
      const tpm = await limiter.take(tpmKey(principal), principal.tpm, 0, this.windowMs);
      if (!tpm.admitted) throw this.limited(principal, 'tpm', principal.tpm, tpm.retryAfterMs);
    }
    if (principal.rpm !== null) {
      const rpm = await limiter.take(rpmKey(principal), principal.rpm, 1, this.windowMs);
      if (!rpm.admitted) throw this.limited(principal, 'rpm', principal.rpm, rpm.retryAfterMs);
    }
  }

  /** Counts a finished request's tokens toward tpm and the budget. Failures are logged, not thrown. */
  async record(principal: KeyPrincipal, promptTokens: number, completionTokens: number): Promise<void> {
    const tokens = Math.max(0, Math.round(promptTokens)) + Math.max(0, Math.round(completionTokens));
    if (tokens === 0) return;
    if (principal.tokenBudget !== null) this.unledgered.counted(principal.keyId, tokens);
    const { limiter } = this.options;
    try {
      await Promise.all([
        principal.tpm === null ? undefined : limiter.take(tpmKey(principal), null, tokens, this.windowMs),
        principal.tokenBudget === null ? undefined : limiter.addTotal(budgetKey(principal), tokens),
      ]);
    } catch (error) {
      this.options.log?.warn(
        { err: error, keyId: principal.keyId },
        'could not count tokens toward key limits',
      );
    }
  }

  /** Usage records the control plane's store now holds (the journal shipper's `onShipped`). */
  stored(events: readonly UsageEvent[]): void {
    this.unledgered.stored(events);
  }

  /** At start: the records an earlier run journaled and did not ship count toward budgets until shipped. */
  countUnshipped(events: AsyncIterable<UsageEvent>): Promise<number> {
    return this.unledgered.countUnshipped(events);
  }

  private limited(principal: KeyPrincipal, limit: 'rpm' | 'tpm', value: number, waitMs: number) {
    const retryAfterS = Math.max(1, Math.ceil(waitMs / 1000));
    const unit = limit === 'rpm' ? 'requests' : 'tokens';
    const perS = this.windowMs / 1000;
    const per = perS === 60 ? 'minute' : `${perS} s`;
    return new EdgeFleetError(
      'rate_limited',
      `API key "${principal.name}" reached its limit of ${value} ${unit} per ${per}; retry after ${retryAfterS} s`,
      { data: { limit, retryAfterS } },
    );
  }
}

const rpmKey = (p: KeyPrincipal) => `rpm:${p.keyId}`;
const tpmKey = (p: KeyPrincipal) => `tpm:${p.keyId}`;
const budgetKey = (p: KeyPrincipal) => `budget:${p.keyId}`;
