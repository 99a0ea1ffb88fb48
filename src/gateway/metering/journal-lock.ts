/**
 * One process at a time per usage journal. Two processes appending to one journal directory lose
 * records: each starts its own segment, and each one's shipper deletes segments the other still writes
 * to (`edgefleet gateway` and `edgefleet server`, or two gateways, given the same `--home`). The holder
 * is named in `<dir>/lock`: its pid and, on Linux, its start time and the boot id, so that a pid reused
 * after a crash or a reboot (a container's pid 1 restarted) is not taken for the holder. A lock whose
 * holder is gone is taken over; a live holder makes the open fail with a message that says what to do.
 *
 * The check sees processes of one machine and one pid namespace: processes in separate containers that
 * share a volume cannot see each other, so each needs a home of its own (docs/gateway.md).
 */
import { readFileSync } from 'node:fs';
import { link, readFile, realpath, rm, stat, writeFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { join } from 'node:path';
import { EdgeFleetError } from '../../spec/edgefleet-error.js';

interface Holder {
  pid: number;
  /** Field 22 of /proc/<pid>/stat (clock ticks after boot); null where /proc is not there. */
  startTime: string | null;
  bootId: string | null;
}

const lockName = 'lock';
const takeoverName = 'lock.takeover';
/** A takeover file this old was left by a process that died while taking a stale lock over. */
const takeoverStaleMs = 10_000;
/** How long an open waits while other processes take a stale lock over. */
const takeoverWaitMs = 15_000;

/** State and start time of process `pid` from /proc, null when they cannot be read (no such process, no /proc). */
function procStat(pid: number): { state: string; startTime: string } | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) is in parentheses and may hold spaces: count fields after its end.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { state: fields[0] ?? '', startTime: fields[19] ?? '' };
  } catch {
    return null;
  }
}

function bootId(): string | null {
  try {
    return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  } catch {
    return null;
  }
}

function parseHolder(text: string): Holder | null {
  try {
    const parsed = JSON.parse(text) as Partial<Holder>;
    if (!Number.isInteger(parsed.pid) || (parsed.pid ?? 0) <= 0) return null;
    return {
      pid: parsed.pid!,
      startTime: typeof parsed.startTime === 'string' ? parsed.startTime : null,
      bootId: typeof parsed.bootId === 'string' ? parsed.bootId : null,
    };
  } catch {
    return null;
  }
}

/** Whether the process that wrote `holder` still runs. */
function isRunning(holder: Holder, ourBootId: string | null): boolean {
  // This process holds none it does not know of (`heldHere`): the pid is an earlier run's.
  if (holder.pid === process.pid) return false;
  if (holder.bootId !== null && ourBootId !== null && holder.bootId !== ourBootId) return false;
  try {
    process.kill(holder.pid, 0);
  } catch (error) {
    // EPERM: it runs, as another user.
    if ((error as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  const stat = procStat(holder.pid);
  if (stat === null) return true;
  // A zombie (killed, not yet reaped by its parent) holds nothing any more.
  if (stat.state === 'Z' || stat.state === 'X') return false;
  return holder.startTime === null || stat.startTime === holder.startTime;
}

/** Journal directories this process holds (a second open of one in the same process is refused too). */
const heldHere = new Set<string>();

export class JournalLock {
  private constructor(
    private readonly path: string,
    private readonly content: string,
  ) {}

  /** Takes `<dir>/lock` or throws a `conflict` naming the process that holds it. */
  static async acquire(dir: string): Promise<JournalLock> {
    // One directory under two names (relative, a symbolic link) is still one journal.
    const real = await realpath(dir);
    const path = join(real, lockName);
    if (heldHere.has(path)) throw inUse(dir, process.pid);
    const ourBootId = bootId();
    const content = JSON.stringify({
      pid: process.pid,
      startTime: procStat(process.pid)?.startTime ?? null,
      bootId: ourBootId,
    });
    // Written whole under a name of its own, then linked into place: the lock never exists half written,
    // and link() fails when a lock is there already.
    const temporary = join(real, `.lock-${process.pid}-${Date.now()}`);
    await writeFile(temporary, content, { mode: 0o600 });
    try {
      const deadline = Date.now() + takeoverWaitMs;
      for (;;) {
        try {
          await link(temporary, path);
          heldHere.add(path);
          return new JournalLock(path, content);
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
        }
        const seen = await readFile(path, 'utf8').catch(() => null);
        if (seen === null) continue; // released meanwhile
        const holder = parseHolder(seen);
        if (holder !== null && isRunning(holder, ourBootId)) throw inUse(dir, holder.pid);
        // Its holder is gone: remove it, unless another process is taking it over now.
        if (await removeStale(real, path, seen)) continue;
        if (Date.now() > deadline) throw inUse(dir, null);
        await sleep(20);
      }
    } finally {
      await rm(temporary, { force: true });
    }
  }

  /** Removes the lock if it is still this process's. */
  async release(): Promise<void> {
    if (!heldHere.delete(this.path)) return;
    const there = await readFile(this.path, 'utf8').catch(() => '');
    if (there === this.content) await rm(this.path, { force: true });
  }
}

/**
 * Removes the stale lock at `path` if it still reads `seen`, holding `<dir>/lock.takeover` meanwhile: a
 * process that judged the lock stale and removed it unguarded could remove the lock another process had
 * taken over in between (both would then hold the journal). False when another process holds the takeover.
 */
async function removeStale(dir: string, path: string, seen: string): Promise<boolean> {
  const guard = join(dir, takeoverName);
  try {
    await writeFile(guard, String(process.pid), { flag: 'wx', mode: 0o600 });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    const since = (await stat(guard).catch(() => null))?.mtimeMs;
    if (since === undefined) return true; // done meanwhile
    // Left by a process that died during its takeover.
    if (Date.now() - since > takeoverStaleMs) await rm(guard, { force: true });
    return false;
  }
  try {
    if ((await readFile(path, 'utf8').catch(() => null)) === seen) await rm(path, { force: true });
    return true;
  } finally {
    await rm(guard, { force: true });
  }
}

function inUse(dir: string, pid: number | null): EdgeFleetError {
  const who = pid === null ? 'another process' : pid === process.pid ? 'this process' : `process ${pid}`;
  return new EdgeFleetError(
    'conflict',
    `the usage journal ${dir} is in use by ${who} (another edgefleet server or gateway with the same --home?); ` +
      'give each server and gateway a --home of its own',
  );
}
