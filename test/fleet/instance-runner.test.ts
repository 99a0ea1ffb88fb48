import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DesiredInstance } from '../../src/spec/worker-protocol.js';
import { createLogger } from '../../src/telemetry/logger.js';
import { InstanceRunner } from '../../src/worker/agent/instance-runner.js';
import {
  loadWorkerIdentity,
  saveWorkerIdentity,
  workerStatePath,
} from '../../src/worker/agent/worker-state-file.js';

const log = createLogger('test');
log.level = 'silent';

function desired(patch: Partial<DesiredInstance>): DesiredInstance {
  return {
    id: 'i-1',
    deploymentId: 'd-1',
    modelRef: '/nonexistent/model.gguf',
    servedName: 'tiny',
    engine: 'llama.cpp',
    deviceIndexes: [0],
    contextTokens: 512,
    ...patch,
  };
}

async function settle(runner: InstanceRunner) {
  for (let i = 0; i < 100 && runner.report().state !== 'failed'; i++) {
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return runner.report();
}

describe('InstanceRunner failures (no engine started)', () => {
  let home: string;
  beforeAll(async () => {
    home = await mkdtemp(join(tmpdir(), 'ef-runner-'));
  });
  afterAll(() => rm(home, { recursive: true, force: true }));

  const runner = (patch: Partial<DesiredInstance>) =>
    new InstanceRunner({
      instance: desired(patch),
      home,
      bindHost: '127.0.0.1',
      threads: 1,
      parallel: 1,
      cpuOnly: true,
      engineBins: { vllm: '/nonexistent/bin/vllm' },
      log,
    });

  it.each([
    [{ engine: 'trtllm' }, /engine "trtllm" cannot be launched by workers/],
    [
      { engine: 'vllm', modelRef: 'deepseek-r1-distill-qwen-7b' },
      /vllm executable \/nonexistent\/bin\/vllm \(from --engine-bin vllm=PATH\) is missing/,
    ],
    [
      { engine: 'mindie', modelRef: 'org/model' },
      /mindie is not installed on this node.*--engine-bin mindie=PATH/,
    ],
    [{ modelRef: '/nonexistent/model.gguf' }, /does not exist on this node/],
    [{ modelRef: 'no-such-model' }, /model "no-such-model" cannot be used on this node/],
  ])('%j is reported failed with a clear reason', async (patch, reason) => {
    const r = runner(patch);
    r.start();
    const report = await settle(r);
    expect(report).toMatchObject({ id: 'i-1', state: 'failed' });
    expect(report.error).toMatch(reason);
    await r.stop();
    expect(r.report().state).toBe('stopped');
  });
});

describe('InstanceRunner draining a process engine (test double for vllm)', () => {
  const fakeVllm = fileURLToPath(new URL('../fixtures/engines/fake-vllm.mjs', import.meta.url));

  it('cuts the drain short when it is stopped again without one (the worker closing)', async () => {
    const home = await mkdtemp(join(tmpdir(), 'ef-runner-drain-'));
    process.env['FAKE_VLLM_REPLY_MS'] = '10000'; // the engine inherits the worker's environment
    try {
      const runner = new InstanceRunner({
        instance: desired({ engine: 'vllm', modelRef: 'org/model' }),
        home,
        bindHost: '127.0.0.1',
        threads: 1,
        parallel: 1,
        cpuOnly: true,
        engineBins: { vllm: fakeVllm },
        log,
      });
      runner.start();
      let port: number | undefined;
      for (let i = 0; i < 500 && port === undefined; i++) {
        await new Promise((resolve) => setTimeout(resolve, 20));
        port = runner.report().state === 'running' ? runner.report().port : undefined;
      }
      const answer = fetch(`http://127.0.0.1:${port}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'tiny', messages: [{ role: 'user', content: 'hi' }] }),
      }).then(
        (response) => response.status,
        () => 'cut',
      );
      await new Promise((resolve) => setTimeout(resolve, 300));
      const retiring = runner.stop({ routeDelayMs: 100, timeoutMs: 30_000 });
      await new Promise((resolve) => setTimeout(resolve, 600)); // draining: the answer is in flight
      expect(runner.report().state).toBe('stopping');
      const started = Date.now();
      await runner.stop();
      await retiring;
      expect(Date.now() - started).toBeLessThan(3000); // not the 9 s the answer still needed
      expect(runner.report().state).toBe('stopped');
      expect(await answer).toBe('cut');
    } finally {
      delete process.env['FAKE_VLLM_REPLY_MS'];
      await rm(home, { recursive: true, force: true });
    }
  });
});

describe('worker.json', () => {
  it('round-trips the identity with mode 0600 and ignores other servers and junk', async () => {
    const home = await mkdtemp(join(tmpdir(), 'ef-identity-'));
    try {
      expect(await loadWorkerIdentity(home, 'http://a')).toBeNull();
      const identity = { serverUrl: 'http://a', nodeId: 'n-1', credential: 'node_secret' };
      await saveWorkerIdentity(home, identity);
      expect((await stat(workerStatePath(home))).mode & 0o777).toBe(0o600);
      expect(await loadWorkerIdentity(home, 'http://a')).toEqual(identity);
      expect(await loadWorkerIdentity(home, 'http://b')).toBeNull();
      await writeFile(workerStatePath(home), '{not json');
      expect(await loadWorkerIdentity(home, 'http://a')).toBeNull();
    } finally {
      await rm(home, { recursive: true, force: true });
    }
  });
});
