import type { ChildProcess } from 'node:child_process';

/** Signals the process group led by `child` (spawned detached); falls back to the process alone. */
export function signalGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    try {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    } catch {
      // already gone
    }
  }
}
