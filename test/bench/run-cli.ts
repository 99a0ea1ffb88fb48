/**
 * Runs the built `edgefleet` CLI to completion (killed after `timeoutMs`; optionally sent SIGINT, like Ctrl-C,
 * after `interruptAfterMs`) and returns its output.
 */
import { spawn } from 'node:child_process';
import { binPath } from '../helpers/edgefleet-process.js';

export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
  wallMs: number;
}

export function runCli(
  args: string[],
  timeoutMs = 120_000,
  options: { interruptAfterMs?: number } = {},
): Promise<CliRun> {
  const started = performance.now();
  const child = spawn(process.execPath, [binPath, ...args], {
    env: { ...process.env, EDGEFLEET_LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (text: string) => (stdout += text));
  child.stderr.setEncoding('utf8').on('data', (text: string) => (stderr += text));
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  if (options.interruptAfterMs !== undefined)
    setTimeout(() => child.kill('SIGINT'), options.interruptAfterMs);
  return new Promise((resolve) =>
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, wallMs: performance.now() - started });
    }),
  );
}
