import { existsSync } from 'node:fs';
import { mkdtemp, rm, utimes, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { acquireLock } from './file-lock.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'edgefleet-lock-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('acquireLock', () => {
  it('makes a second taker wait until the first releases', async () => {
    const path = join(dir, 'm.lock');
    const first = await acquireLock(path);
    const order: string[] = [];
    let waited = false;
    const second = acquireLock(path, { pollMs: 10, onWait: () => (waited = true) }).then((lock) => {
      order.push('second');
      return lock;
    });
    await new Promise((resolve) => setTimeout(resolve, 50));
    order.push('release');
    await first.release();
    await (await second).release();
    expect(order).toEqual(['release', 'second']);
    expect(waited).toBe(true);
    expect(existsSync(path)).toBe(false);
  });

  it('breaks a lock left by a dead process on this host', async () => {
    const path = join(dir, 'm.lock');
    await writeFile(path, JSON.stringify({ pid: 2 ** 22 + 12345, hostname: hostname(), startedAt: '' }));
    const lock = await acquireLock(path, { pollMs: 10 });
    await lock.release();
  });

  it('breaks a lock from another host that was not refreshed for staleMs', async () => {
    const path = join(dir, 'm.lock');
    await writeFile(path, JSON.stringify({ pid: process.pid, hostname: 'elsewhere', startedAt: '' }));
    const old = new Date(Date.now() - 120_000);
    await utimes(path, old, old);
    const lock = await acquireLock(path, { pollMs: 10, staleMs: 60_000 });
    await lock.release();
  });

  it('stops waiting when aborted', async () => {
    const path = join(dir, 'm.lock');
    const held = await acquireLock(path);
    const controller = new AbortController();
    const waiting = acquireLock(path, { pollMs: 10, signal: controller.signal });
    controller.abort(new Error('stop'));
    await expect(waiting).rejects.toThrow('stop');
    await held.release();
  });
});
