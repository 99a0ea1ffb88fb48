import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { loadFromMetrics } from '../../spec/engine-metrics.js';
import { createVllmAdapter, vllmMetricNames } from '../../engines/vllm/vllm-adapter.js';
import { createLogger } from '../../telemetry/logger.js';
import type { EngineState } from '../engine-supervisor.js';
import type { ProcessEngineOptions } from './process-engine-options.js';
import { ProcessEngineSupervisor } from './process-engine-supervisor.js';

const fakeVllm = fileURLToPath(new URL('../../../test/fixtures/engines/fake-vllm.mjs', import.meta.url));
const metricsFixture = fileURLToPath(
  new URL('../../../test/fixtures/engines/vllm-v1-metrics.txt', import.meta.url),
);
const log = createLogger('test');
log.level = 'silent';

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function until<T>(what: string, read: () => T | undefined, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = read();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('ProcessEngineSupervisor (fake vLLM process)', () => {
  let dir: string;
  const running: ProcessEngineSupervisor[] = [];
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ef-process-engine-'));
  });
  afterEach(async () => {
    await Promise.all(running.splice(0).map((s) => s.stop(200)));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  const supervise = (
    name: string,
    patch: Partial<ProcessEngineOptions> = {},
    env: Record<string, string> = {},
  ) => {
    const supervisor = new ProcessEngineSupervisor({
      adapter: createVllmAdapter('vllm'),
      spec: {
        model: 'deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B',
        servedModelName: 'r1',
        host: '127.0.0.1',
        contextLength: 4096,
        accelerator: 'nvidia',
        deviceIndices: [2, 3],
        tensorParallelSize: 2,
        executable: fakeVllm,
        env,
      },
      workDir: join(dir, name),
      log,
      healthPollMs: 20,
      metricsPollMs: 50,
      initialBackoffMs: 50,
      ...patch,
    });
    running.push(supervisor);
    return supervisor;
  };

  it('launches the adapter plan in the work dir, becomes ready and scrapes the load', async () => {
    const supervisor = supervise('ready');
    const states: EngineState[] = [];
    supervisor.on('state', (s) => states.push(s));
    supervisor.start();
    await supervisor.waitUntilReady(10_000);
    expect(states).toEqual(['starting', 'ready']);
    const plan = supervisor.plan!;
    expect(supervisor.port).toBe(plan.port);
    const launched = JSON.parse(await readFile(join(dir, 'ready', 'fake-vllm-launch.json'), 'utf8')) as {
      argv: string[];
      cwd: string;
      env: Record<string, string>;
    };
    expect(launched.argv).toEqual(plan.args);
    expect(launched.argv).toEqual(
      expect.arrayContaining([
        '--port',
        String(plan.port),
        '--tensor-parallel-size',
        '2',
        '--max-model-len',
        '4096',
      ]),
    );
    expect(launched.env['CUDA_VISIBLE_DEVICES']).toBe('2,3');
    expect(launched.env['PATH']).toBe(process.env['PATH']); // merged onto the worker's environment
    const expected = loadFromMetrics(await readFile(metricsFixture, 'utf8'), vllmMetricNames);
    const load = await until('a metrics scrape', () => supervisor.load);
    expect(load).toEqual(expected);
    expect(load.requestsRunning).toBe(8);
  });

  it('counts a follower rank of a multi-node model as up without an API (vLLM --headless)', async () => {
    const supervisor = supervise('follower', {
      spec: {
        model: 'deepseek-ai/DeepSeek-R1',
        servedModelName: 'r1',
        host: '127.0.0.1',
        accelerator: 'nvidia',
        tensorParallelSize: 8,
        pipelineParallelSize: 2,
        multiNode: { nodeCount: 2, nodeRank: 1, masterAddr: '10.0.0.1', masterPort: 29500 },
        executable: fakeVllm,
        env: { FAKE_VLLM_LOAD_MS: '600000' }, // its /health would never say ready
      },
    });
    supervisor.start();
    await supervisor.waitUntilReady(10_000);
    expect(supervisor.plan?.openAiBaseUrl).toBeNull();
    const launchFile = join(dir, 'follower', 'fake-vllm-launch.json');
    let text: string | undefined;
    // The fake writes the record while it starts: a read may catch it empty or half written.
    const launched = (await until('the launch record', () => {
      void readFile(launchFile, 'utf8').then(
        (t) => (text = t),
        () => undefined,
      );
      try {
        return text === undefined ? undefined : (JSON.parse(text) as unknown);
      } catch {
        return undefined;
      }
    })) as { argv: string[] };
    expect(launched.argv).toEqual(
      expect.arrayContaining([
        '--headless',
        '--node-rank',
        '1',
        '--nnodes',
        '2',
        '--master-addr',
        '10.0.0.1',
      ]),
    );
  });

  it('restarts a killed engine (new PID, restarts counted, lastExit says SIGKILL)', async () => {
    const supervisor = supervise('killed');
    supervisor.start();
    await supervisor.waitUntilReady(10_000);
    const firstPid = supervisor.pid!;
    const firstPort = supervisor.port;
    process.kill(firstPid, 'SIGKILL');
    await until('the restart', () => supervisor.status().restarts === 1 || undefined);
    await supervisor.waitUntilReady(10_000);
    expect(supervisor.pid).not.toBe(firstPid);
    expect(supervisor.port).toBe(firstPort); // the freed port is taken again: same URL
    expect(supervisor.status().lastExit).toMatchObject({ signal: 'SIGKILL' });
  });

  it('kills an engine that stops answering its health checks, with its process group, and restarts it', async () => {
    const supervisor = supervise('stopped', { liveness: { everyMs: 100, failures: 3, timeoutMs: 200 } });
    supervisor.start();
    await supervisor.waitUntilReady(10_000);
    const firstPid = supervisor.pid!;
    process.kill(firstPid, 'SIGSTOP'); // alive, answering nothing
    await until('the restart', () => supervisor.status().restarts === 1 || undefined);
    await supervisor.waitUntilReady(10_000);
    expect(supervisor.pid).not.toBe(firstPid);
    expect(isAlive(firstPid)).toBe(false);
    expect(supervisor.status().lastExit?.reason).toMatch(
      /^the engine failed 3 health checks in a row .*\(no answer within 200 ms\); killed and started again$/,
    );
  });

  it('backs off exponentially while the engine keeps crashing, and keeps the reason', async () => {
    const supervisor = supervise(
      'crash',
      { initialBackoffMs: 40, maxBackoffMs: 10_000 },
      { FAKE_VLLM_CRASH: 'CUDA out of memory' },
    );
    supervisor.start();
    // Each restart is counted when the engine exits; the next start follows after the backoff delay.
    const restartTimes: number[] = [];
    await until(
      'five restarts',
      () => {
        if (supervisor.status().restarts > restartTimes.length) restartTimes.push(Date.now());
        return restartTimes.length >= 5 || undefined;
      },
      15_000,
    );
    expect(supervisor.state === 'restarting' || supervisor.state === 'starting').toBe(true);
    expect(supervisor.status().lastExit).toMatchObject({ code: 3, reason: 'ERROR CUDA out of memory' });
    // Delays 40, 80, 160, 320 ms: the 4th to 5th restart waited at least 320 ms (minus the 20 ms poll).
    expect(restartTimes[4]! - restartTimes[3]!).toBeGreaterThanOrEqual(300);
  });

  it('kills an engine that is not ready within the start timeout, and restarts it', async () => {
    const supervisor = supervise('slow', { startTimeoutMs: 300 }, { FAKE_VLLM_LOAD_MS: '60000' });
    supervisor.start();
    await until('the timeout restart', () => supervisor.status().restarts >= 1 || undefined);
    expect(supervisor.status().lastExit?.signal).toBe('SIGKILL');
    expect(supervisor.status().lastExit?.reason).toMatch(/not ready after 300 ms/);
  });

  it('stop() SIGKILLs an engine that ignores SIGTERM, with the workers it forked', async () => {
    const supervisor = supervise('hung', {}, { FAKE_VLLM_FORK: '1', FAKE_VLLM_IGNORE_TERM: '1' });
    supervisor.start();
    await supervisor.waitUntilReady(10_000);
    const pid = supervisor.pid!;
    const workerPid = Number(await readFile(join(dir, 'hung', 'fake-vllm-worker.pid'), 'utf8'));
    expect(isAlive(workerPid)).toBe(true);
    const started = Date.now();
    await supervisor.stop(300);
    expect(Date.now() - started).toBeGreaterThanOrEqual(250);
    expect(supervisor.state).toBe('stopped');
    expect(isAlive(pid)).toBe(false);
    await until('the forked worker to exit', () => !isAlive(workerPid) || undefined, 2000);
  });

  describe('drain', () => {
    /** A chat completion sent to the engine; resolves to its status, or the error that ended it. */
    const ask = (supervisor: ProcessEngineSupervisor) =>
      fetch(`http://127.0.0.1:${supervisor.port!}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'r1', messages: [{ role: 'user', content: 'hi' }] }),
      }).then(
        async (response) => ({ status: response.status, body: await response.text() }),
        (error: Error) => ({ status: 0, body: error.message }),
      );
    const slowEngine = async (name: string, replyMs: number) => {
      const supervisor = supervise(name, {}, { FAKE_VLLM_REPLY_MS: String(replyMs) });
      supervisor.start();
      await supervisor.waitUntilReady(10_000);
      const answer = ask(supervisor);
      await until('the answer in flight', () => (supervisor.load?.requestsRunning ?? 0) > 0 || undefined);
      return { supervisor, answer };
    };

    it('lets the answer in flight finish, which a plain stop aborts', async () => {
      const drained = await slowEngine('drain-finish', 1500);
      const result = await drained.supervisor.drain({ routeDelayMs: 100, timeoutMs: 10_000, pollMs: 50 });
      expect(result).toEqual({ end: 'idle', maxInFlight: 1, inFlight: 0 });
      await drained.supervisor.stop(); // at once: nothing is cut
      const answer = await drained.answer;
      expect(answer.status).toBe(200);
      expect(answer.body).toContain('Hello from the fake vLLM.');

      // Without the drain the engine's SIGTERM ends the same answer unfinished.
      const cut = await slowEngine('drain-none', 1500);
      await cut.supervisor.stop();
      expect((await cut.answer).status).toBe(0);
    });

    it('ends after its time limit, or at once when its signal aborts, saying what is still in flight', async () => {
      const { supervisor } = await slowEngine('drain-limit', 5000);
      let started = Date.now();
      expect(await supervisor.drain({ routeDelayMs: 100, timeoutMs: 400, pollMs: 50 })).toEqual({
        end: 'time limit',
        maxInFlight: 1,
        inFlight: 1,
      });
      expect(Date.now() - started).toBeLessThan(2000);
      const cut = new AbortController();
      setTimeout(() => cut.abort(), 200);
      started = Date.now();
      const drain = { routeDelayMs: 100, timeoutMs: 10_000, pollMs: 50, signal: cut.signal };
      expect((await supervisor.drain(drain)).end).toBe('cut short');
      expect(Date.now() - started).toBeLessThan(2000);
    });

    it('does not restart an engine that exits while it drains', async () => {
      const { supervisor } = await slowEngine('drain-exit', 5000);
      const states: EngineState[] = [];
      supervisor.on('state', (s) => states.push(s));
      const drained = supervisor.drain({ routeDelayMs: 100, timeoutMs: 10_000, pollMs: 50 });
      process.kill(supervisor.pid!, 'SIGKILL');
      expect((await drained).end).toBe('exited');
      await new Promise((resolve) => setTimeout(resolve, 300)); // past the first restart's backoff (50 ms)
      expect(supervisor.pid).toBeUndefined();
      expect(states).toEqual([]);
      await supervisor.stop();
      expect(supervisor.state).toBe('stopped');
    });
  });

  it('kills the engine an earlier (SIGKILLed) worker left in the work dir before starting', async () => {
    const workDir = join(dir, 'orphan');
    await mkdir(workDir, { recursive: true });
    const orphan = spawn(fakeVllm, ['serve', 'm', '--port', '0'], {
      cwd: workDir,
      detached: true,
      stdio: 'ignore',
    });
    await writeFile(join(workDir, 'engine.pid'), JSON.stringify({ pid: orphan.pid, command: fakeVllm }));
    const exited = new Promise((resolve) => orphan.once('exit', (_code, signal) => resolve(signal)));
    // Only once the orphan runs the engine (not the instant after fork, when /proc still shows the
    // parent's command line) is it what a SIGKILLed worker leaves behind.
    let launched = false;
    await until('the orphan to start', () => {
      void readFile(join(workDir, 'fake-vllm-launch.json'), 'utf8').then(
        () => (launched = true),
        () => undefined,
      );
      return launched || undefined;
    });
    const supervisor = supervise('orphan');
    try {
      supervisor.start();
      await supervisor.waitUntilReady(10_000);
      const stillRunning = new Promise((resolve) => setTimeout(() => resolve('still running'), 10_000));
      expect(await Promise.race([exited, stillRunning])).toBe('SIGKILL');
    } finally {
      // A failed run must not leave the orphan behind.
      if (orphan.exitCode === null && orphan.signalCode === null) orphan.kill('SIGKILL');
    }
    expect(supervisor.pid).not.toBe(orphan.pid);
    const recorded = JSON.parse(await readFile(join(workDir, 'engine.pid'), 'utf8')) as { pid: number };
    expect(recorded.pid).toBe(supervisor.pid);
    await supervisor.stop();
    await expect(readFile(join(workDir, 'engine.pid'), 'utf8')).rejects.toThrow(/ENOENT/);
  });

  it('keeps the engine serving when its log file cannot be written', async () => {
    // engine.log is a directory here: opening it fails the way a full or read-only disk fails a write.
    await mkdir(join(dir, 'unloggable', 'engine.log'), { recursive: true });
    const supervisor = supervise('unloggable');
    supervisor.start();
    await supervisor.waitUntilReady(10_000);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(supervisor.state).toBe('ready');
    expect(isAlive(supervisor.status().pid!)).toBe(true);
  });

  it('fails with the reason when spawn itself throws (a NUL byte in the environment)', async () => {
    const supervisor = supervise('nul', {}, { BAD: 'a\0b' });
    supervisor.start();
    await until('failed', () => supervisor.state === 'failed' || undefined);
    expect(supervisor.status().error).toMatch(/cannot start .*fake-vllm.*: .*null bytes/);
  });

  it('fails (no restart loop) when the executable cannot run', async () => {
    const supervisor = supervise('missing', {
      spec: { model: 'm', servedModelName: 'm', executable: join(dir, 'no-such-vllm') },
    });
    supervisor.start();
    await until('failed', () => supervisor.state === 'failed' || undefined);
    expect(supervisor.status().error).toMatch(/cannot start .*no-such-vllm: .*ENOENT/);
    expect(supervisor.status().restarts).toBe(0);
  });
});
