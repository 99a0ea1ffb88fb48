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

/** SIGKILLs the process group of an engine left behind by an earlier worker run; true when one was found. */
export async function killStaleEngine(workDir: string): Promise<boolean> {
  let recorded: { pid?: unknown; command?: unknown };
  try {
    recorded = JSON.parse(await readFile(pidFile(workDir), 'utf8')) as typeof recorded;
  } catch {
    return false;
  }
  const { pid, command } = recorded;
  if (typeof pid !== 'number' || typeof command !== 'string' || pid <= 1) return false;
  const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
  if (!cmdline.split('\0').some((arg) => arg !== '' && basename(arg) === basename(command))) return false;
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
