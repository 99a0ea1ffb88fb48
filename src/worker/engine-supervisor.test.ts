import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../telemetry/logger.js';
import { EngineSupervisor } from './engine-supervisor.js';

const log = createLogger('test');
log.level = 'silent';

describe('EngineSupervisor', () => {
  const running: EngineSupervisor[] = [];
  afterEach(async () => {
    await Promise.all(running.splice(0).map((s) => s.stop(200)));
  });

  it('counts an engine process that cannot even be spawned as a failed start, and tries again', async () => {
    // A NUL byte in the environment makes spawn throw instead of starting a process.
    const supervisor = new EngineSupervisor({
      engineArgs: [],
      env: { BAD: 'a\0b' },
      log,
      initialBackoffMs: 20,
    });
    running.push(supervisor);
    supervisor.start();
    const deadline = Date.now() + 5000;
    while (supervisor.status().restarts < 3 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const status = supervisor.status();
    expect(status.restarts).toBeGreaterThanOrEqual(3);
    expect(status.state).toBe('restarting');
    expect(status.pid).toBeUndefined();
    expect(status.lastExit?.reason).toMatch(/cannot start the engine process: .*null bytes/);
    await supervisor.stop(200);
    expect(supervisor.state).toBe('stopped');
  });
});
