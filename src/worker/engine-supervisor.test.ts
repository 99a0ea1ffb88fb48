import { afterEach, describe, expect, it } from 'vitest';
import { makeTestModel } from '../../test/helpers/models.js';
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

  it('kills an engine that stops answering its health checks and starts it again', async () => {
    const model = await makeTestModel({});
    const supervisor = new EngineSupervisor({
      engineArgs: [
        '--model',
        model.path,
        '--port',
        '0',
        '--threads',
        '1',
        '--parallel',
        '1',
        '--context',
        '256',
      ],
      log,
      initialBackoffMs: 20,
      liveness: { everyMs: 200, failures: 3, timeoutMs: 200 },
    });
    running.push(supervisor);
    supervisor.start();
    await supervisor.waitUntilReady(30_000);
    const first = supervisor.pid!;
    // A hung engine: the process lives on and answers nothing.
    process.kill(first, 'SIGSTOP');
    const deadline = Date.now() + 20_000;
    while ((supervisor.state !== 'ready' || supervisor.pid === first) && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(supervisor.state).toBe('ready');
    expect(supervisor.pid).not.toBe(first);
    const status = supervisor.status();
    expect(status.restarts).toBe(1);
    expect(status.lastExit?.reason).toMatch(
      /the engine failed 3 health checks in a row over \d+ s \(no answer within 200 ms\); killed and started again/,
    );
    expect(() => process.kill(first, 0)).toThrow();
  }, 60_000);
});
