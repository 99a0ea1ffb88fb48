import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { testPrincipal, testUsage } from '../../../test/helpers/principals.js';
import { KeyGuard } from '../auth/key-guard.js';
import { LocalRateLimiter } from '../auth/local-rate-limiter.js';
import { restoredUnledgered, shippedTokensFile } from './shipped-tokens-cache.js';

const log = pino({ level: 'silent' });
const dirs: string[] = [];
afterEach(async () => {
  await Promise.all(dirs.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
});

describe('the shipped-tokens cache of a room gateway', () => {
  it('keeps a budget spent through a restart while the key list is older than the shipments', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ef-shipped-'));
    dirs.push(dir);
    const path = join(dir, shippedTokensFile(0));
    // The key list was pulled (ledger total 0) before the key's answers were shipped.
    const pulledAtMs = Date.now() - 5000;
    const principal = testPrincipal('k', { tokenBudget: 40, tokensUsed: 0, tokensUsedAtMs: pulledAtMs });
    const first = await restoredUnledgered(path, log);
    const guard = new KeyGuard({
      lookup: async () => null,
      limiter: new LocalRateLimiter(),
      unledgered: first.tokens,
    });
    for (let i = 0; i < 3; i++) {
      await guard.admit(principal, 'm');
      await guard.record(principal, 15, 0);
      guard.stored([testUsage('k', 15)]);
      first.save(pulledAtMs);
    }
    await expect(guard.admit(principal, 'm')).rejects.toMatchObject({ code: 'rate_limited' });
    await first.saved();
    expect((await stat(path)).mode & 0o777).toBe(0o600);

    // Restarted with the same cached key list (control plane unreachable): still spent.
    const second = await restoredUnledgered(path, log);
    const restarted = new KeyGuard({
      lookup: async () => null,
      limiter: new LocalRateLimiter(),
      unledgered: second.tokens,
    });
    await expect(restarted.admit(principal, 'm')).rejects.toMatchObject({ code: 'rate_limited' });
    // A key list pulled after the shipments holds them: they do not count twice.
    await restarted.admit({ ...principal, tokensUsed: 30, tokenBudget: 40, tokensUsedAtMs: Date.now() }, 'm');

    // A damaged file is ignored (with a warning), not fatal.
    await writeFile(path, '{"k": "nonsense"');
    const damaged = await restoredUnledgered(path, log);
    expect(damaged.tokens.shippedTokens()).toEqual({});
    expect(shippedTokensFile(2)).toBe('shipped-tokens-2.json');
  });
});
