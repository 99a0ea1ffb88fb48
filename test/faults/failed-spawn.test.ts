import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { runDetached, runWorkersScenario as run } from '../helpers/gateway-workers-run.js';

const engineSupervisor = fileURLToPath(new URL('../../dist/worker/engine-supervisor.js', import.meta.url));

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
        message: 'a gateway worker could not be started before all workers served; stopping',
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

describe('an embedded engine whose process cannot be started', () => {
  it('is stopped at once, signalling nothing else, when stop() comes before the spawn failure is reported', async () => {
    // The spawn fails after it returned (ENOENT here; EAGAIN, EMFILE in production) and stop() comes in
    // that moment: no pid, no 'exit' to wait for, and a kill() would signal the caller's process group.
    const program = `
      import { EngineSupervisor } from ${JSON.stringify(engineSupervisor)};
      const log = { info() {}, warn() {}, error() {}, child() { return log; } };
      process.execPath = '/nonexistent/node';
      const supervisor = new EngineSupervisor({ engineArgs: [], log, initialBackoffMs: 60_000 });
      supervisor.start();
      await supervisor.stop();
      process.stdout.write(supervisor.state);
    `;
    expect(await runDetached(['--input-type=module', '-e', program])).toBe('stopped');
  });
});
