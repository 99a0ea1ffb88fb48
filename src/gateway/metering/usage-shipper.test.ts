import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { UsageEvent } from '../../spec/usage-event.js';
import { createLogger } from '../../telemetry/logger.js';
import { UsageJournal } from './usage-journal.js';
import { UsageShipper } from './usage-shipper.js';

const log = createLogger('test');
log.level = 'silent';

const dirs: string[] = [];
afterEach(async () => {
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
});

const event = (n: number): UsageEvent => ({
  id: `e${n}`,
  atMs: 1_700_000_000_000 + n,
  keyId: 'k',
  model: 'm',
  siteName: 'north',
  instanceId: 'i',
  route: '/v1/chat/completions',
  promptTokens: n,
  completionTokens: 2 * n,
  ttftMs: 5,
  durationMs: 10,
  status: 200,
  outcome: 'ok',
  usageEstimated: false,
});

describe('UsageShipper timing', () => {
  it('backs off while shipping fails and returns to its interval as soon as a flush succeeds', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ef-shipper-'));
    dirs.push(dir);
    const journal = new UsageJournal(dir);
    await journal.open();
    await journal.append(event(1));
    const stored: string[] = [];
    let up = false;
    let attempts = 0;
    const shipper = new UsageShipper({
      journal,
      log,
      intervalMs: 40,
      ship: async (events) => {
        attempts += 1;
        if (!up) throw new Error('connection refused');
        stored.push(...events.map((e) => e.id));
      },
    });
    shipper.start();
    try {
      // 40 ms doubled per failure: after five failures the next try is 1280 ms away.
      await expect.poll(() => attempts, { timeout: 10_000, interval: 10 }).toBeGreaterThanOrEqual(5);
      await expect
        .poll(() => shipper.nextDelayMs, { timeout: 10_000, interval: 10 })
        .toBeGreaterThanOrEqual(1280);

      // The caller sees the store back and flushes: the backed-off wait is dropped at once…
      up = true;
      expect(await shipper.flush()).toBe(1);
      expect(shipper.nextDelayMs).toBe(40);
      // …so an event journaled just after ships at the base interval, not after the backed-off one.
      await journal.append(event(2));
      const appendedAt = Date.now();
      await expect.poll(() => stored, { timeout: 5000, interval: 5 }).toEqual(['e1', 'e2']);
      expect(Date.now() - appendedAt).toBeLessThan(1000);
    } finally {
      await shipper.stop();
      await journal.close();
    }
    expect(shipper.nextDelayMs).toBe(-1);
  });
});
