import { readFile, rm, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';

/**
 * `<workDir>/engine.pid`: the engine a supervisor started, so that a worker restarted after a crash (or a
 * SIGKILL, which leaves engines running) stops its predecessor's engine before starting a new one. A recorded
 * PID is only signalled when /proc shows the same command still running under it.
 */
const pidFile = (workDir: string) => join(workDir, 'engine.pid');

export async function recordEngine(workDir: string, pid: number, command: string): Promise<void> {
  await writeFile(pidFile(workDir), `${JSON.stringify({ pid, command })}\n`);
}

export async function forgetEngine(workDir: string): Promise<void> {
  await rm(pidFile(workDir), { force: true });
}

/**
 * SIGKILLs the process group of an engine left behind by an earlier worker run; true when one was found.
 * A record whose engine is gone (no such process, or one running another command under a reused pid),
 * or that cannot be read, is removed, so it does not keep the directory of a retired instance from being
 * cleaned up. Where the command line cannot be read (no /proc: macOS) a live pid keeps its record.
 */
export async function killStaleEngine(workDir: string): Promise<boolean> {
  let text: string;
  try {
    text = await readFile(pidFile(workDir), 'utf8');
  } catch {
    return false;
  }
  let recorded: { pid?: unknown; command?: unknown } = {};
  try {
    recorded = (JSON.parse(text) as typeof recorded | null) ?? {};
  } catch {
    // a record cut short by a crash: nothing to signal
  }
  const { pid, command } = recorded;
  const valid = typeof pid === 'number' && Number.isInteger(pid) && pid > 1 && typeof command === 'string';
  if (!valid || !isRunning(pid)) {
    await forgetEngine(workDir);
    return false;
  }
  const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => null);
  if (cmdline === null) return false; // alive, but what it runs cannot be checked here
  if (!cmdline.split('\0').some((arg) => arg !== '' && basename(arg) === basename(command))) {
    await forgetEngine(workDir);
    return false;
  }
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      return false;
    }
  }
  await forgetEngine(workDir);
  return true;
}

/** Whether a process of this user runs under `pid` (another user's cannot be an engine this worker started). */
function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
