import { describe, expect, it } from 'vitest';
import type { KeyPrincipal } from '../../spec/api-keys.js';
import { EdgeFleetError } from '../../spec/edgefleet-error.js';

import { testPrincipal, testUsage } from '../../../test/helpers/principals.js';
import { KeyGuard } from './key-guard.js';
import { LocalRateLimiter } from './local-rate-limiter.js';

const principal = (fields: Partial<KeyPrincipal> = {}) => testPrincipal('key-1', { name: 'app', ...fields });

/** A guard over a local limiter whose clock the test moves; `keys` maps secrets to principals. */
function guardWith(keys: Record<string, KeyPrincipal>) {
  const clock = { now: 1_000_000 * 60_000 + 5_000 };
  const guard = new KeyGuard({
    lookup: (secret) => Promise.resolve(keys[secret] ?? null),
    limiter: new LocalRateLimiter(() => clock.now),
  });
  return { guard, clock };
}

async function refusal(promise: Promise<unknown>): Promise<EdgeFleetError> {
  const error = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  if (!(error instanceof EdgeFleetError)) throw new Error(`expected an EdgeFleetError, got ${String(error)}`);
  return error;
}

describe('KeyGuard with the in-process limiter', () => {
  it('authenticates a bearer key, and refuses a missing, unknown or revoked one with 401', async () => {
    const app = principal();
    const admin = principal({ keyId: 'admin-1', name: 'admin', role: 'admin' });
    const { guard } = guardWith({ ef_key_good: app, ef_admin_x: admin });
    expect(await guard.authenticate('Bearer ef_key_good')).toEqual(app);
    expect(await guard.authenticate('bearer  ef_admin_x ')).toEqual(admin);
    for (const header of [undefined, '', 'Basic abc', 'Bearer ef_key_revoked']) {
      const error = await refusal(guard.authenticate(header));
      expect(error.code).toBe('unauthorized');
      expect(error.status).toBe(401);
    }
  });

  it('refuses a model outside the allow-list with 403 naming the model', async () => {
    const { guard } = guardWith({});
    const p = principal({ allowedModels: ['chat-7b', 'embed'] });
    await guard.admit(p, 'chat-7b');
    await guard.admit(principal(), 'anything');
    const error = await refusal(guard.admit(p, 'r1-671b'));
    expect(error.code).toBe('forbidden');
    expect(error.status).toBe(403);
    expect(error.param).toBe('model');
    expect(error.message).toContain('"r1-671b"');
    expect(error.message).toContain('chat-7b, embed');
  });

  it('admits rpm requests per minute, then answers 429 with a retry-after that works', async () => {
    const { guard, clock } = guardWith({});
    const p = principal({ rpm: 3 });
    for (let i = 0; i < 3; i++) await guard.admit(p, 'm');
    const error = await refusal(guard.admit(p, 'm'));
    expect(error.code).toBe('rate_limited');
    expect(error.status).toBe(429);
    const retryAfterS = error.data['retryAfterS'] as number;
    expect(retryAfterS).toBeGreaterThanOrEqual(1);
    expect(retryAfterS).toBeLessThanOrEqual(120);
    // Another key has its own counter.
    await guard.admit(principal({ keyId: 'key-2', rpm: 3 }), 'm');
    clock.now += (retryAfterS - 2) * 1000;
    expect((await refusal(guard.admit(p, 'm'))).code).toBe('rate_limited');
    clock.now += 2000;
    await guard.admit(p, 'm');
  });

  it('refuses once the tokens recorded this minute reach tpm, and admits again later', async () => {
    const { guard, clock } = guardWith({});
    const p = principal({ tpm: 1000 });
    await guard.admit(p, 'm');
    await guard.record(p, 400, 500);
    await guard.admit(p, 'm');
    await guard.record(p, 50, 50);
    const error = await refusal(guard.admit(p, 'm'));
    expect(error.code).toBe('rate_limited');
    expect(error.message).toMatch(/1000 tokens per minute/);
    const retryAfterS = error.data['retryAfterS'] as number;
    expect(retryAfterS).toBeGreaterThan(0);
    clock.now += retryAfterS * 1000;
    await guard.admit(p, 'm');
  });

  it('refuses with 429 and no retry-after once the token budget is spent (the ledger plus what it counted)', async () => {
    const { guard } = guardWith({});
    const fromLedger = principal({ tokenBudget: 500, tokensUsed: 500 });
    const error = await refusal(guard.admit(fromLedger, 'm'));
    expect(error.code).toBe('rate_limited');
    expect(error.data['retryAfterS']).toBeUndefined();
    expect(error.message).toMatch(/token budget \(500 of 500 tokens\)/);

    const p = principal({ keyId: 'key-b', tokenBudget: 500, tokensUsed: 100, tokensUsedAtMs: Date.now() });
    await guard.admit(p, 'm');
    await guard.record(p, 150, 150);
    await guard.admit(p, 'm'); // 100 in the ledger + 300 counted here < 500
    await guard.record(p, 100, 0);
    expect((await refusal(guard.admit(p, 'm'))).message).toMatch(/500 of 500/);
  });

  it('keeps counting what it serves while its ledger total stands still (control plane unreachable)', async () => {
    // The key was looked up with 90 of 100 tokens in the ledger; the control plane is then unreachable,
    // so that total is all the gateway hears. Each answer costs 30 tokens.
    const { guard } = guardWith({});
    const p = principal({ keyId: 'key-c', tokenBudget: 100, tokensUsed: 90, tokensUsedAtMs: Date.now() });
    await guard.admit(p, 'm');
    await guard.record(p, 20, 10);
    expect((await refusal(guard.admit(p, 'm'))).message).toMatch(/120 of 100/);
  });

  it('counts shipped tokens until a ledger total read after the shipment holds them', async () => {
    const { guard } = guardWith({});
    const before = principal({
      keyId: 'key-d',
      tokenBudget: 200,
      tokensUsed: 90,
      tokensUsedAtMs: Date.now() - 1,
    });
    await guard.record(before, 20, 10);
    guard.stored([testUsage('key-d', 20, 10)]); // the store has it now: after `before` was read
    expect((await refusal(guard.admit({ ...before, tokenBudget: 120 }, 'm'))).message).toMatch(/120 of 120/);
    // Looked up again: the ledger now holds those 30, which no longer count on top.
    const after = { ...before, tokensUsed: 120, tokensUsedAtMs: Date.now() + 1 };
    await guard.admit({ ...after, tokenBudget: 121 }, 'm');
    expect((await refusal(guard.admit({ ...after, tokenBudget: 120 }, 'm'))).message).toMatch(/120 of 120/);
  });

  it('after a restart, counts what the journal holds unshipped toward the budget', async () => {
    const { guard } = guardWith({});
    async function* unshipped() {
      yield testUsage('key-e', 20, 10);
      yield testUsage('other', 500, 500);
    }
    expect(await guard.countUnshipped(unshipped())).toBe(2);
    const p = principal({ keyId: 'key-e', tokenBudget: 100, tokensUsed: 90, tokensUsedAtMs: Date.now() });
    expect((await refusal(guard.admit(p, 'm'))).message).toMatch(/120 of 100/);
  });

  it('does not count a refused request toward rpm', async () => {
    const { guard } = guardWith({});
    const p = principal({ rpm: 1, allowedModels: ['ok'] });
    for (let i = 0; i < 5; i++) expect((await refusal(guard.admit(p, 'no'))).code).toBe('forbidden');
    await guard.admit(p, 'ok');
  });
});
