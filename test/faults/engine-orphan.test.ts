import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { binPath, waitFor } from '../helpers/edgefleet-process.js';
import { makeTestModel } from '../helpers/models.js';
import { isAlive } from '../fleet/fleet-processes.js';

/**
 * The embedded engine runs in its own process group (so a terminal's Ctrl-C reaches only its
 * supervisor), and so nothing but its IPC channel tells it that the supervisor died. A supervisor killed
 * while the engine is still starting, before the engine listens for that, must not leave it running.
 */
describe('embedded engine whose supervisor dies while it starts', () => {
  it('exits instead of running on as an orphan', async () => {
    const model = await makeTestModel({ contextLength: 256 });
    // The supervisor as EdgeFleet's spawns it (detached, with an IPC channel), killed 100 ms later.
    const supervisor = `
      const { spawn } = require('node:child_process');
      const child = spawn(process.execPath, [${JSON.stringify(binPath)}, 'engine', '--model', ${JSON.stringify(model.path)},
        '--context', '256', '--threads', '1'], { stdio: ['ignore', 'ignore', 'ignore', 'ipc'], detached: true });
      console.log(child.pid);
      setTimeout(() => process.kill(process.pid, 'SIGKILL'), 100);`;
    const { stdout } = await promisify(execFile)(process.execPath, ['-e', supervisor]).catch(
      (error: { stdout: string }) => error, // it ends by SIGKILL
    );
    const pid = Number(stdout.trim());
    expect(pid).toBeGreaterThan(0);
    try {
      await waitFor(async () => (isAlive(pid) ? undefined : true), 10_000, 'the orphaned engine to exit');
    } finally {
      if (isAlive(pid)) process.kill(pid, 'SIGKILL');
    }
  }, 30_000);
});
