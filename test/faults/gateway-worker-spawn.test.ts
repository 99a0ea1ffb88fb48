import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const script = fileURLToPath(new URL('../helpers/gateway-workers-spawn.mjs', import.meta.url));

interface Outcome {
  code: number;
  lines: { level: string; message: string; error?: string; restartInMs?: number }[];
  pids: number[];
}

/** Runs one scenario of the helper (a cluster primary of `edgefleet gateway --workers`) to its end. */
async function run(scenario: string): Promise<Outcome> {
  const child = spawn(process.execPath, [script, scenario], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (text: string) => (stdout += text));
  child.stderr.setEncoding('utf8').on('data', (text: string) => (stderr += text));
  const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
  const exit = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  clearTimeout(timer);
  if (exit !== 0 || stdout === '')
    throw new Error(`the primary exited ${exit} with no outcome (killed after 15 s if null)\n${stderr}`);
  return JSON.parse(stdout) as Outcome;
}

/**
 * A gateway worker whose process cannot be started is a failed start, not the end of the primary: before
 * any worker listened the gateway stops with 1 and says why; after, it is retried like a worker that died.
 */
describe('gateway workers whose process cannot be started', () => {
  it('stops with 1 and the reason when node refuses the start at once, and starts no further worker', async () => {
    const outcome = await run('throw-at-start');
    expect(outcome.code).toBe(1);
    const failures = outcome.lines.filter((line) => line.message.includes('could not be started'));
    expect(failures).toEqual([
      expect.objectContaining({
        level: 'error',
        message: 'a gateway worker could not be started before listening; stopping',
        error: 'ERR_INVALID_ARG_VALUE',
      }),
    ]);
  });

  it('stops with 1 when the spawns fail afterwards (an error event and no exit)', async () => {
    const outcome = await run('enoent-at-start');
    expect(outcome.code).toBe(1);
    const failures = outcome.lines.filter((line) => line.message.includes('could not be started'));
    expect(failures[0]).toMatchObject({ level: 'error', error: 'ENOENT' });
    expect(failures.length).toBeLessThanOrEqual(2);
  });

  it('retries a restart that fails either way, with a growing pause, until a worker serves again', async () => {
    const outcome = await run('fail-on-restart');
    expect(outcome.code).toBe(0);
    const restarts = outcome.lines.filter((line) => line.level === 'warn');
    expect(restarts).toEqual([
      expect.objectContaining({ message: 'a gateway worker exited; starting it again', restartInMs: 100 }),
      expect.objectContaining({
        message: 'a gateway worker could not be started; starting it again',
        error: 'ERR_INVALID_ARG_VALUE',
        restartInMs: 200,
      }),
      expect.objectContaining({
        message: 'a gateway worker could not be started; starting it again',
        error: 'ENOENT',
        restartInMs: 400,
      }),
    ]);
    expect(outcome.pids).toHaveLength(2);
    expect(outcome.pids[1]).not.toBe(outcome.pids[0]);
  });
});
