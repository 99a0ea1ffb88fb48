/**
 * Runs the gateway-workers helper (test/helpers/gateway-workers-spawn.mjs: a cluster primary of
 * `edgefleet gateway --workers` with tiny workers) and other short node programs to their end, detached.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const script = fileURLToPath(new URL('./gateway-workers-spawn.mjs', import.meta.url));

export interface Outcome {
  code: number;
  lines: { level: string; message: string; error?: string; restartInMs?: number; handedOn?: number }[];
  pids: number[];
  /** Per connection, a worker's pid or 'closed' / 'no answer' (and whether before a kill). */
  answers: { answer: number | string; beforeKill?: boolean }[];
}

/**
 * Runs `node ARGS` to its end (with at most `maxOpenFiles` open files per process) and returns its stdout. In a process group of its own: the failure these
 * tests guard against includes a kill() that signals the caller's whole group, which must end only the
 * child, never the test runner.
 */
export async function runDetached(args: string[], maxOpenFiles?: number): Promise<string> {
  const [command, commandArgs] =
    maxOpenFiles === undefined
      ? [process.execPath, args]
      : ['/bin/sh', ['-c', `ulimit -n ${maxOpenFiles} && exec "$@"`, 'sh', process.execPath, ...args]];
  const child = spawn(command, commandArgs, { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (text: string) => (stdout += text));
  child.stderr.setEncoding('utf8').on('data', (text: string) => (stderr += text));
  const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) =>
    child.on('exit', (c, s) => resolve([c, s])),
  );
  clearTimeout(timer);
  if (code !== 0 || stdout === '')
    throw new Error(
      `exited ${code ?? signal} with no outcome (SIGKILL: still running after 15 s)\n${stderr}`,
    );
  return stdout;
}

/** Runs one scenario of the helper to its end. */
export async function runWorkersScenario(scenario: string, maxOpenFiles?: number): Promise<Outcome> {
  return JSON.parse(await runDetached([script, scenario], maxOpenFiles)) as Outcome;
}
