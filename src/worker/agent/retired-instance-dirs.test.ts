import { mkdir, mkdtemp, readdir, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { pruneRetiredInstanceDirs } from './retired-instance-dirs.js';

describe('pruneRetiredInstanceDirs', () => {
  let home: string;
  const now = Date.now() / 1000;

  /** An instance directory whose directory entry is `dirAgeS` old and whose engine.log `logAgeS` old. */
  async function instanceDir(id: string, dirAgeS: number, logAgeS?: number, pid?: boolean): Promise<void> {
    const dir = join(home, 'instances', id);
    await mkdir(dir, { recursive: true });
    if (logAgeS !== undefined) {
      await writeFile(join(dir, 'engine.log'), `log of ${id}\n`);
      await utimes(join(dir, 'engine.log'), now - logAgeS, now - logAgeS);
    }
    if (pid) await writeFile(join(dir, 'engine.pid'), '{"pid":12345,"command":"vllm"}\n');
    await utimes(dir, now - dirAgeS, now - dirAgeS);
  }

  beforeEach(async () => {
    home = await mkdtemp(join(tmpdir(), 'retired-dirs-'));
  });
  afterEach(async () => {
    await rm(home, { recursive: true, force: true });
  });

  it('keeps the most recently active retired directories and never touches running or recorded engines', async () => {
    // r0 … r9: directory entries all a day old; their logs written 10 … 100 minutes ago, r0 most recently.
    for (let i = 0; i < 10; i++) await instanceDir(`r${i}`, 86_400, 600 * (i + 1));
    await instanceDir('no-log-new', 60); // never logged, created a minute ago
    await instanceDir('running-old', 200_000, 200_000);
    await instanceDir('pid-old', 200_000, 200_000, true);
    await writeFile(join(home, 'instances', 'stray-file'), 'not a directory');

    const removed = await pruneRetiredInstanceDirs(home, new Set(['running-old']), 3);

    expect(removed.sort()).toEqual(['r2', 'r3', 'r4', 'r5', 'r6', 'r7', 'r8', 'r9']);
    expect((await readdir(join(home, 'instances'))).sort()).toEqual([
      'no-log-new',
      'pid-old',
      'r0',
      'r1',
      'running-old',
      'stray-file',
    ]);
  });

  it('removes every retired directory with keep 0, and is a no-op without an instances directory', async () => {
    expect(await pruneRetiredInstanceDirs(home, new Set(), 0)).toEqual([]);
    await instanceDir('a', 10, 10);
    await instanceDir('b', 10);
    await instanceDir('c', 10, 10);
    expect((await pruneRetiredInstanceDirs(home, new Set(['c']), 0)).sort()).toEqual(['a', 'b']);
    expect(await readdir(join(home, 'instances'))).toEqual(['c']);
  });
});
