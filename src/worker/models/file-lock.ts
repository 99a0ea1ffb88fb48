import { hostname } from 'node:os';
import { open, readFile, stat, unlink, utimes } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';

/** What a lock file holds, so that a waiter can tell who has it and whether the holder is gone. */
export interface LockHolder {
  pid: number;
  hostname: string;
  startedAt: string;
}

export interface FileLock {
  release(): Promise<void>;
}

export interface AcquireLockOptions {
  signal?: AbortSignal;
  /** Called once when the lock is held by someone else and we start waiting for it. */
  onWait?: (holder: LockHolder | null) => void;
  /** A lock whose file was not touched for this long is stale (its holder died, maybe on another host). */
  staleMs?: number;
  pollMs?: number;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function readHolder(path: string): Promise<LockHolder | null> {
  try {
    const parsed = JSON.parse(await readFile(path, 'utf8')) as Partial<LockHolder>;
    if (typeof parsed.pid !== 'number' || typeof parsed.hostname !== 'string') return null;
    return { pid: parsed.pid, hostname: parsed.hostname, startedAt: String(parsed.startedAt ?? '') };
  } catch {
    return null;
  }
}

async function isStale(path: string, staleMs: number): Promise<boolean> {
  const holder = await readHolder(path);
  if (holder && holder.hostname === hostname() && !isAlive(holder.pid)) return true;
  try {
    return Date.now() - (await stat(path)).mtimeMs > staleMs;
  } catch {
    return false;
  }
}

/**
 * Takes an exclusive lock by creating `path` with O_EXCL. While held, the file's mtime is refreshed so
 * that waiters on other hosts (a shared home directory) can tell a live holder from a dead one. A lock
 * left by a dead process on this host, or not refreshed for `staleMs`, is broken. Waits (abortable) while
 * another live process holds it.
 */
export async function acquireLock(path: string, options: AcquireLockOptions = {}): Promise<FileLock> {
  const staleMs = options.staleMs ?? 30_000;
  const pollMs = options.pollMs ?? 250;
  let waiting = false;
  for (;;) {
    options.signal?.throwIfAborted();
    try {
      const handle = await open(path, 'wx');
      const holder: LockHolder = {
        pid: process.pid,
        hostname: hostname(),
        startedAt: new Date().toISOString(),
      };
      await handle.writeFile(JSON.stringify(holder));
      await handle.close();
      const heartbeat = setInterval(
        () => {
          const now = new Date();
          utimes(path, now, now).catch(() => undefined);
        },
        Math.max(1_000, Math.floor(staleMs / 3)),
      );
      heartbeat.unref();
      let released = false;
      return {
        async release() {
          if (released) return;
          released = true;
          clearInterval(heartbeat);
          await unlink(path).catch(() => undefined);
        },
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    if (await isStale(path, staleMs)) {
      // Two waiters breaking the same stale lock in the same few milliseconds could both win; that needs a
      // crashed holder plus two new pulls racing, which we accept.
      await unlink(path).catch(() => undefined);
      continue;
    }
    if (!waiting) {
      waiting = true;
      options.onWait?.(await readHolder(path));
    }
    await sleep(pollMs, undefined, options.signal ? { signal: options.signal } : {}).catch(
      (error: unknown) => {
        throw options.signal?.aborted ? options.signal.reason : error;
      },
    );
  }
}
