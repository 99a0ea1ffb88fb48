import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { UsageJournal } from './usage-journal.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function journalDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'ef-journal-lock-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

async function opened(dir: string): Promise<UsageJournal> {
  const journal = new UsageJournal(dir);
  await journal.open();
  cleanups.push(() => journal.close());
  return journal;
}

/** A process that runs until killed, and its start time as /proc tells it. */
async function liveProcess(): Promise<{ pid: number; startTime: string; stop: () => Promise<void> }> {
  const child = spawn('sleep', ['60'], { stdio: 'ignore' });
  await once(child, 'spawn');
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = once(child, 'exit');
    child.kill('SIGKILL');
    await exited;
  };
  cleanups.push(stop);
  const stat = readFileSync(`/proc/${child.pid}/stat`, 'utf8');
  const startTime = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]!;
  return { pid: child.pid!, startTime, stop };
}

const bootId = () => readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();

/** One process at a time per journal directory (two would lose records). */
describe('the usage journal lock', () => {
  it('refuses a second open in the same process until the first is closed, and removes its lock', async () => {
    const dir = await journalDir();
    const first = new UsageJournal(dir);
    await first.open();
    await expect(new UsageJournal(dir).open()).rejects.toThrow(
      /usage journal .* is in use by this process .*give each server and gateway a --home of its own/,
    );
    expect(JSON.parse(await readFile(join(dir, 'lock'), 'utf8'))).toMatchObject({ pid: process.pid });
    await first.close();
    expect(await readdir(dir)).not.toContain('lock');
    await opened(dir);
  });

  it('refuses while another live process holds it, and takes it over once that process is gone', async () => {
    const dir = await journalDir();
    const holder = await liveProcess();
    await writeFile(
      join(dir, 'lock'),
      JSON.stringify({ pid: holder.pid, startTime: holder.startTime, bootId: bootId() }),
    );
    const error = await new UsageJournal(dir).open().then(
      () => undefined,
      (e: unknown) => e as { code?: string; message: string },
    );
    expect(error?.code).toBe('conflict');
    expect(error?.message).toContain(`in use by process ${holder.pid}`);
    // Nothing was written to the journal by the refused open.
    expect((await readdir(dir)).sort()).toEqual(['lock']);

    await holder.stop();
    await opened(dir);
    expect(JSON.parse(await readFile(join(dir, 'lock'), 'utf8'))).toMatchObject({ pid: process.pid });
  });

  it('takes over a lock whose pid now belongs to another process, was written before a reboot, or is garbage', async () => {
    const other = await liveProcess();
    const stale = [
      { pid: other.pid, startTime: '1', bootId: bootId() }, // the pid was reused after the holder died
      { pid: other.pid, startTime: other.startTime, bootId: 'another-boot' },
      'not json',
    ];
    for (const content of stale) {
      const dir = await journalDir();
      await writeFile(join(dir, 'lock'), typeof content === 'string' ? content : JSON.stringify(content));
      const journal = await opened(dir);
      await journal.append({
        id: 'e1',
        atMs: 1,
        keyId: 'k',
        model: 'm',
        siteName: 's',
        instanceId: 'i',
        route: '/v1/chat/completions',
        promptTokens: 1,
        completionTokens: 1,
        ttftMs: 1,
        durationMs: 1,
        status: 200,
        outcome: 'ok',
        usageEstimated: false,
      });
      expect((await journal.readUnshipped(10)).events).toHaveLength(1);
    }
  });

  it('lets exactly one of several processes that open it at once have it, also when they take over a stale lock', async () => {
    const dir = await journalDir();
    const module = new URL('../../../dist/gateway/metering/usage-journal.js', import.meta.url).href;
    const script = `
      const { UsageJournal } = await import(${JSON.stringify(module)});
      const journal = new UsageJournal(process.argv[1]);
      // All start at one moment, each process loaded by then.
      await new Promise((resolve) => setTimeout(resolve, Number(process.argv[2]) - Date.now()));
      try { await journal.open(); } catch (error) { console.log(error.code); process.exit(0); }
      console.log('open');
      // Held until the test has heard from the others (its stdin ends).
      process.stdin.resume();
      await new Promise((resolve) => process.stdin.once('end', resolve));
      await journal.close();`;
    for (let round = 0; round < 8; round += 1) {
      const startAt = String(Date.now() + 1000);
      // Every other round starts from a lock its holder left (a crash): all of them find it stale at once.
      if (round % 2 === 1) {
        await writeFile(
          join(dir, 'lock'),
          JSON.stringify({ pid: 999_999_999, startTime: '1', bootId: bootId() }),
        );
      }
      const children = Array.from({ length: 5 }, () =>
        spawn(process.execPath, ['--input-type=module', '-e', script, dir, startAt], {
          stdio: ['pipe', 'pipe', 'inherit'],
        }),
      );
      const outputs = children.map(() => '');
      children.forEach((child, i) =>
        child.stdout.on('data', (chunk: Buffer) => (outputs[i] += chunk.toString())),
      );
      const exits = children.map((child) => once(child, 'exit'));
      // The processes refused exit at once; the one that has the journal holds it until told (or, should
      // two have it, until 4 s have passed).
      const deadline = Date.now() + 4000;
      while (children.filter((c) => c.exitCode !== null).length < 4 && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      for (const child of children) child.stdin.end();
      await Promise.all(exits);
      expect(outputs.map((o) => o.trim()).sort(), `round ${round}`).toEqual([
        'conflict',
        'conflict',
        'conflict',
        'conflict',
        'open',
      ]);
      expect(await readdir(dir)).not.toContain('lock');
    }
  }, 60_000);
});
