import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { EngineLogFile } from './engine-log-file.js';

const dirs: string[] = [];
afterEach(async () => {
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
});

async function workDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'ef-engine-log-'));
  dirs.push(dir);
  return dir;
}

/** Closes the log and waits until what was written is in the files. */
async function closed(log: EngineLogFile): Promise<void> {
  log.close();
  await new Promise((resolve) => setTimeout(resolve, 50));
}

describe('EngineLogFile', () => {
  it('moves engine.log to engine.log.1 once it holds the maximum, keeping the newest lines', async () => {
    const dir = await workDir();
    const path = join(dir, 'engine.log');
    const errors: Error[] = [];
    const log = new EngineLogFile(path, (e) => errors.push(e), 1000);
    const lines = Array.from(
      { length: 45 },
      (_, i) => `request ${String(i).padStart(3, '0')} ${'x'.repeat(87)}\n`,
    );
    for (const line of lines) log.write(line); // 100 bytes each: 4,500 bytes in all
    await closed(log);
    const current = await readFile(path, 'utf8');
    const previous = await readFile(`${path}.1`, 'utf8');
    expect(errors).toEqual([]);
    expect(current.length).toBeLessThanOrEqual(1000);
    expect(previous.length).toBe(1000);
    expect(previous + current).toBe(lines.slice(-(previous.length + current.length) / 100).join(''));
    expect(current.endsWith(lines.at(-1)!)).toBe(true);
  });

  it('counts what an earlier run left in engine.log toward the maximum', async () => {
    const dir = await workDir();
    const path = join(dir, 'engine.log');
    await writeFile(path, 'y'.repeat(950));
    const log = new EngineLogFile(path, () => undefined, 1000);
    log.write(`${'z'.repeat(99)}\n`);
    log.write(`${'z'.repeat(99)}\n`);
    await closed(log);
    expect((await stat(`${path}.1`)).size).toBe(950);
    expect((await stat(path)).size).toBe(200);
  });

  it('reports a file it cannot open once and writes nothing more', async () => {
    const dir = await workDir();
    const path = join(dir, 'engine.log');
    await mkdir(path); // opening a directory fails the way a full or read-only disk fails a write
    const errors: Error[] = [];
    const log = new EngineLogFile(path, (e) => errors.push(e), 1000);
    for (let i = 0; i < 20; i++) {
      log.write(`line ${i}\n`);
      await new Promise((resolve) => setImmediate(resolve));
    }
    await closed(log);
    expect(errors.map((e) => (e as NodeJS.ErrnoException).code)).toEqual(['EISDIR']);
  });
});
