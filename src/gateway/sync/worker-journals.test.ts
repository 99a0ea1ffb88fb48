import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { UsageEvent } from '../../spec/usage-event.js';
import { createLogger } from '../../telemetry/logger.js';
import { UsageJournal } from '../metering/usage-journal.js';
import { journalDirName, shipLeftoverJournals } from './worker-journals.js';

const log = createLogger('test');
log.level = 'silent';

const homes: string[] = [];
afterEach(async () => {
  for (const dir of homes.splice(0)) await rm(dir, { recursive: true, force: true });
});

const event = (id: string): UsageEvent => ({
  id,
  atMs: 1_700_000_000_000,
  keyId: 'k',
  model: 'm',
  siteName: 'north',
  instanceId: 'i',
  route: '/v1/chat/completions',
  promptTokens: 3,
  completionTokens: 5,
  ttftMs: 5,
  durationMs: 10,
  status: 200,
  outcome: 'ok',
  usageEstimated: false,
});

/** A gateway home whose workers 0 … 2 each journaled two records and shipped none. */
async function homeOfThreeWorkers(): Promise<string> {
  const home = await mkdtemp(join(tmpdir(), 'ef-worker-journals-'));
  homes.push(home);
  for (const index of [0, 1, 2]) {
    const journal = new UsageJournal(join(home, journalDirName(index)));
    await journal.open();
    await journal.append(event(`w${index}-a`));
    await journal.append(event(`w${index}-b`));
    await journal.close();
  }
  return home;
}

describe('worker journals', () => {
  it('names worker 0 usage-journal (a gateway of one process) and worker i usage-journal-i', () => {
    expect([0, 1, 7].map(journalDirName)).toEqual(['usage-journal', 'usage-journal-1', 'usage-journal-7']);
  });

  it('ships the journals of workers this run lacks, removes them, and leaves the others alone', async () => {
    const home = await homeOfThreeWorkers();
    const shipped: string[] = [];
    await shipLeftoverJournals({
      home,
      workers: 2,
      ship: async (events) => void shipped.push(...events.map((e) => e.id)),
      log,
      signal: new AbortController().signal,
    });
    expect(shipped.sort()).toEqual(['w2-a', 'w2-b']);
    expect((await readdir(home)).sort()).toEqual(['usage-journal', 'usage-journal-1']);
  });

  it('keeps a leftover journal while the control plane refuses it and ships it on a later try', async () => {
    const home = await homeOfThreeWorkers();
    const shipped: string[] = [];
    let refusals = 0;
    await shipLeftoverJournals({
      home,
      workers: 1,
      ship: async (events) => {
        if (refusals < 2) {
          refusals += 1;
          throw new Error('control plane unreachable');
        }
        shipped.push(...events.map((e) => e.id));
      },
      log,
      signal: new AbortController().signal,
      retryMs: 20,
    });
    expect(refusals).toBe(2);
    expect(shipped.sort()).toEqual(['w1-a', 'w1-b', 'w2-a', 'w2-b']);
    expect(await readdir(home)).toEqual(['usage-journal']);
  });

  it('tries again at once when told the control plane is back, not after its retry wait', async () => {
    const home = await homeOfThreeWorkers();
    const shipped: string[] = [];
    let reachable = false;
    let tryNow: (() => void) | undefined;
    const started = Date.now();
    const done = shipLeftoverJournals({
      home,
      workers: 2,
      ship: async (events) => {
        if (!reachable) throw new Error('control plane unreachable');
        shipped.push(...events.map((e) => e.id));
      },
      log,
      signal: new AbortController().signal,
      retryMs: 60_000,
      onWaiting: (wake) => (tryNow = wake),
    });
    await new Promise((resolve) => setTimeout(resolve, 100));
    reachable = true;
    tryNow?.();
    await done;
    expect(Date.now() - started).toBeLessThan(5000);
    expect(shipped.sort()).toEqual(['w2-a', 'w2-b']);
  });

  // A directory rm cannot remove: one holding a mount point (EBUSY), which needs root to set up.
  it.skipIf(process.getuid?.() !== 0)(
    'keeps a shipped journal it cannot remove and tries again, never rejecting',
    async () => {
      const home = await homeOfThreeWorkers();
      const mountPoint = join(home, journalDirName(2), 'busy');
      await mkdir(mountPoint);
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', mountPoint]);
      try {
        const stop = new AbortController();
        const shipped: string[] = [];
        const done = shipLeftoverJournals({
          home,
          workers: 2,
          ship: async (events) => void shipped.push(...events.map((e) => e.id)),
          log,
          signal: stop.signal,
          retryMs: 20,
        });
        await new Promise((resolve) => setTimeout(resolve, 300));
        stop.abort();
        await done;
        expect(shipped.sort()).toEqual(['w2-a', 'w2-b']); // once, however often the removal is tried
        expect(await readdir(home)).toContain(journalDirName(2));
      } finally {
        execFileSync('umount', ['-l', mountPoint]);
      }
    },
  );

  it('stops trying when the gateway closes, keeping what it could not ship', async () => {
    const home = await homeOfThreeWorkers();
    const stop = new AbortController();
    const done = shipLeftoverJournals({
      home,
      workers: 2,
      ship: async () => {
        throw new Error('control plane unreachable');
      },
      log,
      signal: stop.signal,
      retryMs: 60_000,
    });
    await new Promise((resolve) => setTimeout(resolve, 50));
    stop.abort();
    await done;
    expect((await readdir(home)).sort()).toEqual(['usage-journal', 'usage-journal-1', 'usage-journal-2']);
    const left = await readdir(join(home, 'usage-journal-2'));
    expect(left.some((name) => name.endsWith('.jsonl'))).toBe(true);
  });

  it('stops at once when the gateway closes while a shipment is under way', async () => {
    const home = await homeOfThreeWorkers();
    const stop = new AbortController();
    const started = Date.now();
    await shipLeftoverJournals({
      home,
      workers: 2,
      ship: async () => {
        stop.abort();
        throw new Error('control plane unreachable');
      },
      log,
      signal: stop.signal,
      retryMs: 60_000,
    });
    expect(Date.now() - started).toBeLessThan(5000);
    expect((await readdir(home)).sort()).toEqual(['usage-journal', 'usage-journal-1', 'usage-journal-2']);
  }, 10_000);
});
