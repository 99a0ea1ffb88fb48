import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { appendFile, mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
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

async function journalDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'ef-journal-'));
  dirs.push(dir);
  return dir;
}

const event = (n: number, model = 'm'): UsageEvent => ({
  id: `e${n}`,
  atMs: 1_700_000_000_000 + n,
  keyId: 'k',
  model,
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

describe('UsageJournal', () => {
  it('keeps every appended event across a restart until it is shipped', async () => {
    const dir = await journalDir();
    const first = new UsageJournal(dir);
    await first.open();
    await Promise.all([1, 2, 3].map((n) => first.append(event(n, 'modèle-ü'))));
    await first.close();

    const second = new UsageJournal(dir);
    await second.open();
    await second.append(event(4));
    const batch = await second.readUnshipped(100);
    expect(batch.events.map((e) => e.id)).toEqual(['e1', 'e2', 'e3', 'e4']);
    expect(batch.events[0]!.model).toBe('modèle-ü');
    await second.markShipped(batch.next);
    expect((await second.readUnshipped(100)).events).toEqual([]);
    await second.append(event(5));
    expect((await second.readUnshipped(100)).events.map((e) => e.id)).toEqual(['e5']);
    await second.close();
  });

  it("with sync 'interval', loses nothing when the gateway process is killed before any fsync", async () => {
    const dir = await journalDir();
    // A process that appends 300 events (rotating segments) with fsync an hour away, then kills itself: half
    // one after the other, half 50 at a time (the appends of one event-loop turn share a write).
    const module = new URL('../../../dist/gateway/metering/usage-journal.js', import.meta.url).href;
    const script = `
      const { UsageJournal } = await import(${JSON.stringify(module)});
      const journal = new UsageJournal(process.argv[1], { sync: 'interval', syncEveryMs: 3600000, maxSegmentBytes: 4096 });
      await journal.open();
      const events = JSON.parse(process.argv[2]);
      for (const event of events.slice(0, 150)) await journal.append(event);
      for (let i = 150; i < events.length; i += 50) await Promise.all(events.slice(i, i + 50).map((e) => journal.append(e)));
      process.kill(process.pid, 'SIGKILL');`;
    const events = Array.from({ length: 300 }, (_, n) => event(n));
    const child = spawnSync(
      process.execPath,
      ['--input-type=module', '-e', script, dir, JSON.stringify(events)],
      {
        encoding: 'utf8',
      },
    );
    expect(child.signal, child.stderr).toBe('SIGKILL');
    const reader = new UsageJournal(dir);
    await reader.open();
    const batch = await reader.readUnshipped(1000);
    expect(batch.events.map((e) => e.id)).toEqual(events.map((e) => e.id));
    expect(batch.skippedLines).toBe(0);
    expect((await readdir(dir)).filter((name) => name.endsWith('.jsonl')).length).toBeGreaterThan(5);
    await reader.close();
  });

  it('reads in batches and deletes segments once they are shipped', async () => {
    const dir = await journalDir();
    const journal = new UsageJournal(dir, { maxSegmentBytes: 600 }); // a few events per segment
    await journal.open();
    for (let n = 1; n <= 12; n++) await journal.append(event(n));
    expect((await readdir(dir)).filter((f) => f.endsWith('.jsonl')).length).toBeGreaterThan(2);
    const seen: string[] = [];
    for (;;) {
      const batch = await journal.readUnshipped(5);
      if (batch.events.length === 0) break;
      expect(batch.events.length).toBeLessThanOrEqual(5);
      seen.push(...batch.events.map((e) => e.id));
      await journal.markShipped(batch.next);
    }
    expect(seen).toEqual(Array.from({ length: 12 }, (_, i) => `e${i + 1}`));
    expect((await readdir(dir)).filter((f) => f.endsWith('.jsonl')).length).toBe(1);
    await journal.close();
  });

  it('lists every unshipped event across segments without moving the checkpoint, and the shipper reports what it shipped', async () => {
    const dir = await journalDir();
    const journal = new UsageJournal(dir, { maxSegmentBytes: 600 });
    await journal.open();
    for (let n = 1; n <= 12; n++) await journal.append(event(n));
    const first = await journal.readUnshipped(4);
    await journal.markShipped(first.next);
    const ids = async () => {
      const out: string[] = [];
      for await (const e of journal.unshippedEvents(3)) out.push(e.id);
      return out;
    };
    const rest = Array.from({ length: 8 }, (_, i) => `e${i + 5}`);
    expect(await ids()).toEqual(rest);
    expect(await ids()).toEqual(rest); // again: nothing was marked shipped
    const reported: string[] = [];
    const shipper = new UsageShipper({
      journal,
      log,
      ship: async () => undefined,
      batchSize: 5,
      onShipped: (events) => reported.push(...events.map((e) => e.id)),
    });
    expect(await shipper.flush()).toBe(8);
    expect(reported).toEqual(rest);
    expect(await ids()).toEqual([]);
    await journal.close();
  });

  for (const sync of ['always', 'interval'] as const) {
    it(`with sync '${sync}', goes on appending to the old segment while the next one cannot be opened`, async () => {
      const dir = await journalDir();
      const journal = new UsageJournal(dir, { sync, maxSegmentBytes: 600 });
      await journal.open();
      // The next segment's name is taken by a directory: opening it fails (EISDIR) as a full disk would.
      const blocked = join(dir, 'usage-00000002.jsonl');
      await mkdir(blocked);
      for (let n = 1; n <= 8; n++) await journal.append(event(n));
      await new Promise((resolve) => setTimeout(resolve, 50)); // a rotation in flight has failed by now
      expect((await readdir(dir)).filter((f) => f.endsWith('.jsonl'))).toEqual([
        'usage-00000001.jsonl',
        'usage-00000002.jsonl',
      ]);
      // The disk recovers: the next append past the size rotates.
      await rm(blocked, { recursive: true });
      for (let n = 9; n <= 12; n++) await journal.append(event(n));
      await journal.close();
      const files = (await readdir(dir)).filter((f) => f.endsWith('.jsonl'));
      expect(files.length).toBeGreaterThanOrEqual(2);
      const reopened = new UsageJournal(dir);
      await reopened.open();
      const batch = await reopened.readUnshipped(100);
      expect(batch.events.map((e) => e.id)).toEqual(Array.from({ length: 12 }, (_, i) => `e${i + 1}`));
      await reopened.close();
    });
  }

  it('reads only what lies past the checkpoint (an idle shipper asks every second)', async () => {
    const dir = await journalDir();
    const journal = new UsageJournal(dir);
    await journal.open();
    // About 4 MB shipped, all in the current segment.
    for (let n = 0; n < 15_000; n++) journal.append(event(n, 'm'.repeat(40))).catch(() => undefined);
    await journal.append(event(15_000));
    let batch = await journal.readUnshipped(100_000);
    expect(batch.events).toHaveLength(15_001);
    await journal.markShipped(batch.next);
    const readBytes = () => Number(/rchar: (\d+)/.exec(readFileSync('/proc/self/io', 'utf8'))![1]);
    const before = readBytes();
    for (let i = 0; i < 20; i++) expect((await journal.readUnshipped(1000)).events).toHaveLength(0);
    // Reading the whole segment each time was 20 x 4 MB.
    expect(readBytes() - before).toBeLessThan(4 * 1024 * 1024);
    await journal.append(event(15_001));
    batch = await journal.readUnshipped(1000);
    expect(batch.events.map((e) => e.id)).toEqual(['e15001']);
    await journal.close();
  });

  it('skips and reports a line torn by a crash, never ships it', async () => {
    const dir = await journalDir();
    const journal = new UsageJournal(dir);
    await journal.open();
    await journal.append(event(1));
    await journal.close();
    const segment = (await readdir(dir)).find((f) => f.endsWith('.jsonl'))!;
    await appendFile(join(dir, segment), '{"id":"torn","atMs":1\n');
    const reopened = new UsageJournal(dir);
    await reopened.open();
    await reopened.append(event(2));
    const batch = await reopened.readUnshipped(100);
    expect(batch.events.map((e) => e.id)).toEqual(['e1', 'e2']);
    expect(batch.skippedLines).toBe(1);
    await reopened.close();
  });
});

describe('UsageShipper', () => {
  it('keeps events in the journal while the store is down and ships each once it is back', async () => {
    const dir = await journalDir();
    const journal = new UsageJournal(dir);
    await journal.open();
    for (let n = 1; n <= 3; n++) await journal.append(event(n));
    const stored = new Map<string, UsageEvent>();
    let storeUp = false;
    const shipper = new UsageShipper({
      journal,
      log,
      ship: async (events) => {
        if (!storeUp) throw new Error('connection refused');
        for (const e of events) stored.set(e.id, e);
      },
    });
    await expect(shipper.flush()).rejects.toThrow(/connection refused/);
    expect(stored.size).toBe(0);
    storeUp = true;
    expect(await shipper.flush()).toBe(3);
    await journal.append(event(4));
    expect(await shipper.flush()).toBe(1);
    expect([...stored.keys()]).toEqual(['e1', 'e2', 'e3', 'e4']);
    expect(await shipper.flush()).toBe(0);
    await journal.close();
  });
});
