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
import { link, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { EdgeFleetError } from '../../spec/edgefleet-error.js';

interface Holder {
  pid: number;
  /** Field 22 of /proc/<pid>/stat (clock ticks after boot); null where /proc is not there. */
  startTime: string | null;
  bootId: string | null;
}

const lockName = 'lock';

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
    const path = join(dir, lockName);
    if (heldHere.has(path)) throw inUse(dir, process.pid);
    const ourBootId = bootId();
    const content = JSON.stringify({
      pid: process.pid,
      startTime: procStat(process.pid)?.startTime ?? null,
      bootId: ourBootId,
    });
    // Written whole under a name of its own, then linked into place: the lock never exists half written,
    // and link() fails when a lock is there already.
    const temporary = join(dir, `.lock-${process.pid}-${Date.now()}`);
    await writeFile(temporary, content, { mode: 0o600 });
    try {
      for (let attempt = 0; attempt < 3; attempt += 1) {
        try {
          await link(temporary, path);
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
          const holder = parseHolder(await readFile(path, 'utf8').catch(() => ''));
          if (holder !== null && isRunning(holder, ourBootId)) throw inUse(dir, holder.pid);
          await rm(path, { force: true }); // its holder is gone
          continue;
        }
        // Two processes taking over one stale lock at once: the one whose lock is not there lost.
        const there = await readFile(path, 'utf8').catch(() => '');
        if (there !== content) throw inUse(dir, parseHolder(there)?.pid ?? null);
        heldHere.add(path);
        return new JournalLock(path, content);
      }
      throw inUse(dir, null);
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

function inUse(dir: string, pid: number | null): EdgeFleetError {
  const who = pid === null ? 'another process' : pid === process.pid ? 'this process' : `process ${pid}`;
  return new EdgeFleetError(
    'conflict',
    `the usage journal ${dir} is in use by ${who} (another edgefleet server or gateway with the same --home?); ` +
      'give each server and gateway a --home of its own',
  );
}
