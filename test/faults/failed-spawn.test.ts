import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const script = fileURLToPath(new URL('../helpers/gateway-workers-spawn.mjs', import.meta.url));
const engineSupervisor = fileURLToPath(new URL('../../dist/worker/engine-supervisor.js', import.meta.url));

interface Outcome {
  code: number;
  lines: { level: string; message: string; error?: string; restartInMs?: number }[];
  /** What answered, one per request: a worker's pid, or 'closed' / 'no answer' (killed-while-handing). */
  pids: (number | string)[];
}

/**
 * Runs `node ARGS` to its end and returns its stdout. In a process group of its own: the failure these
 * tests guard against includes a kill() that signals the caller's whole group, which must end only the
 * child, never the test runner.
 */
async function runDetached(args: string[]): Promise<string> {
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
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

/** Runs one scenario of the helper (a cluster primary of `edgefleet gateway --workers`) to its end. */
async function run(scenario: string): Promise<Outcome> {
  return JSON.parse(await runDetached([script, scenario])) as Outcome;
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

/**
 * A worker killed while the primary hands it connections: none is left open and unanswered (as node:cluster
 * leaves the one it had sent, nodejs/node#21746). Worker 1 is stopped, four connections come in turn
 * (workers 0, 1, 0, 1), worker 1 is killed: the connection sent to it is closed, the one still waiting in
 * the primary goes to worker 0.
 */
describe('gateway workers killed while connections are handed to them', () => {
  it('closes the connection sent to the dead worker and hands the one not yet sent to another', async () => {
    const outcome = await run('killed-while-handing');
    expect(outcome.code).toBe(0);
    const [first, toDead, third, fourth] = outcome.pids;
    expect(typeof first).toBe('number');
    expect([toDead, third, fourth]).toEqual(['closed', first, first]);
    expect(outcome.lines).toContainEqual(expect.objectContaining({ level: 'warn', handedOn: 1, closed: 1 }));
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
