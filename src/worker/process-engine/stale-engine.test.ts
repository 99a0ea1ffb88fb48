import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { killStaleEngine, recordEngine } from './stale-engine.js';

describe('killStaleEngine', () => {
  let dir: string;
  let child: ChildProcess | undefined;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'stale-engine-'));
  });
  afterEach(async () => {
    if (child?.pid !== undefined && child.exitCode === null && child.signalCode === null)
      process.kill(-child.pid);
    child = undefined;
    await rm(dir, { recursive: true, force: true });
  });

  const pidRecord = () => readFile(join(dir, 'engine.pid'), 'utf8');

  function startSleeper(): Promise<number> {
    child = spawn('sleep', ['30'], { detached: true, stdio: 'ignore' });
    return new Promise((resolve, reject) => {
      child!.once('spawn', () => resolve(child!.pid!));
      child!.once('error', reject);
    });
  }

  it('kills the recorded engine when the same command still runs under its pid', async () => {
    const pid = await startSleeper();
    await recordEngine(dir, pid, '/usr/bin/sleep');
    const exited = new Promise((resolve) => child!.once('exit', (_code, signal) => resolve(signal)));
    expect(await killStaleEngine(dir)).toBe(true);
    expect(await exited).toBe('SIGKILL');
    await expect(pidRecord()).rejects.toThrow(/ENOENT/);
  });

  it('leaves a process that runs another command alone and drops the record', async () => {
    const pid = await startSleeper();
    await recordEngine(dir, pid, 'vllm');
    expect(await killStaleEngine(dir)).toBe(false);
    expect(child!.exitCode).toBeNull();
    expect(() => process.kill(pid, 0)).not.toThrow();
    await expect(pidRecord()).rejects.toThrow(/ENOENT/);
  });

  it('drops a record of an engine that is gone, or one cut short', async () => {
    const pid = await startSleeper();
    process.kill(-pid, 'SIGKILL');
    await new Promise((resolve) => child!.once('exit', resolve));
    await recordEngine(dir, pid, 'sleep');
    expect(await killStaleEngine(dir)).toBe(false);
    await expect(pidRecord()).rejects.toThrow(/ENOENT/);

    for (const text of ['{"pid":12', 'null', '{"pid":1,"command":"init"}']) {
      await writeFile(join(dir, 'engine.pid'), text);
      expect(await killStaleEngine(dir)).toBe(false);
      await expect(pidRecord()).rejects.toThrow(/ENOENT/);
    }
    expect(await killStaleEngine(dir)).toBe(false); // no record at all
  });
});
