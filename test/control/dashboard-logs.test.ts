import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createVllmAdapter } from '../../src/engines/vllm/vllm-adapter.js';
import { createLogger } from '../../src/telemetry/logger.js';
import { LogTail } from '../../src/worker/log-tail.js';
import { ProcessEngineSupervisor } from '../../src/worker/process-engine/process-engine-supervisor.js';
import { startEdgeFleet, waitFor, type RunningEdgeFleet } from '../helpers/edgefleet-process.js';
import { makeTestModel } from '../helpers/models.js';
import {
  errorCode,
  listOf,
  registerBody,
  startHarness,
  type Harness,
  type JsonObject,
} from './server-harness.js';

const fakeVllm = fileURLToPath(new URL('../fixtures/engines/fake-vllm.mjs', import.meta.url));

describe('instance logs over the worker protocol', () => {
  let h: Harness;
  let mine: { nodeId: string; credential: string };
  let other: { nodeId: string; credential: string };
  let instanceId: string;

  const register = async (name: string) => {
    const response = await h.call('POST', '/api/v1/worker/register', {
      key: null,
      body: registerBody(await h.newJoinToken(), name, 'room'),
    });
    return response.body as { nodeId: string; credential: string };
  };
  const heartbeat = (credential: string, instances: JsonObject[]) =>
    h.call('POST', '/api/v1/worker/heartbeat', { key: credential, body: { instances } });

  beforeAll(async () => {
    h = await startHarness();
    mine = await register('gpu-1');
    const created = await h.call('POST', '/api/v1/deployments', {
      body: { name: 'chat', model: 'deepseek-r1-distill-qwen-7b', quant: 'q4_k_m', replicas: 1 },
    });
    expect(created.status).toBe(201);
    await h.control.reconcile();
    const [instance] = listOf((await h.call('GET', '/api/v1/instances')).body);
    instanceId = instance!['id'] as string;
    expect(instance!['nodeId']).toBe(mine.nodeId);
    // Registered after the placement, so the instance is on gpu-1.
    other = await register('gpu-2');
  });
  afterAll(async () => {
    await h?.close();
  });

  it('answers an empty log before the worker sent any, and 404 for an unknown instance', async () => {
    expect(await h.call('GET', `/api/v1/instances/${instanceId}/logs`)).toEqual({
      status: 200,
      body: { object: 'instance_log', id: instanceId, lines: [], updatedAtMs: null },
    });
    const unknown = await h.call('GET', '/api/v1/instances/no-such-instance/logs');
    expect(unknown.status).toBe(404);
    expect(errorCode(unknown.body)).toBe('not_found');
    expect((await h.call('GET', `/api/v1/instances/${instanceId}/logs`, { key: null })).status).toBe(401);
    expect(
      (await h.call('GET', `/api/v1/instances/${instanceId}/logs`, { key: h.inferenceKey })).status,
    ).toBe(403);
  });

  it('keeps the latest tail a worker sent and answers its last lines', async () => {
    const first = Array.from({ length: 30 }, (_, i) => `line ${i + 1}`);
    h.clock.now += 1000;
    expect(
      (await heartbeat(mine.credential, [{ id: instanceId, state: 'starting', logTail: first }])).status,
    ).toBe(200);
    const all = await h.call('GET', `/api/v1/instances/${instanceId}/logs`);
    expect(all.body).toEqual({
      object: 'instance_log',
      id: instanceId,
      lines: first,
      updatedAtMs: h.clock.now,
    });
    const last5 = await h.call('GET', `/api/v1/instances/${instanceId}/logs?lines=5`);
    expect(last5.body['lines']).toEqual(['line 26', 'line 27', 'line 28', 'line 29', 'line 30']);

    // A heartbeat without a tail (unchanged) keeps the one before; a new tail replaces it.
    h.clock.now += 1000;
    await heartbeat(mine.credential, [{ id: instanceId, state: 'running', port: 8080 }]);
    expect((await h.call('GET', `/api/v1/instances/${instanceId}/logs?lines=1`)).body['lines']).toEqual([
      'line 30',
    ]);
    await heartbeat(mine.credential, [{ id: instanceId, state: 'running', logTail: ['engine ready'] }]);
    expect((await h.call('GET', `/api/v1/instances/${instanceId}/logs`)).body).toMatchObject({
      lines: ['engine ready'],
      updatedAtMs: h.clock.now,
    });

    // Another node cannot write this instance's log.
    await heartbeat(other.credential, [{ id: instanceId, state: 'running', logTail: ['forged'] }]);
    expect((await h.call('GET', `/api/v1/instances/${instanceId}/logs`)).body['lines']).toEqual([
      'engine ready',
    ]);
  });

  it('still answers the log of a failed instance the reconciler removed', async () => {
    await heartbeat(mine.credential, [
      {
        id: instanceId,
        state: 'failed',
        error: 'out of memory',
        logTail: ['engine ready', 'ERROR out of memory'],
      },
    ]);
    await h.control.reconcile();
    expect(await h.store.getInstance(instanceId)).toBeNull();
    const log = await h.call('GET', `/api/v1/instances/${instanceId}/logs`);
    expect(log.status).toBe(200);
    expect(log.body['lines']).toEqual(['engine ready', 'ERROR out of memory']);
  });

  it('refuses bad parameters and oversized tails', async () => {
    for (const query of ['lines=0', 'lines=1001', 'lines=abc', 'lines=2.5', 'tail=5']) {
      const bad = await h.call('GET', `/api/v1/instances/${instanceId}/logs?${query}`);
      expect(bad.status, query).toBe(400);
    }
    expect((await h.call('POST', `/api/v1/instances/${instanceId}/logs`, { body: {} })).status).toBe(405);
    const tooLong = await heartbeat(mine.credential, [
      { id: instanceId, state: 'running', logTail: ['x'.repeat(5000)] },
    ]);
    expect(tooLong.status).toBe(400);
    const tooMany = await heartbeat(mine.credential, [
      { id: instanceId, state: 'running', logTail: Array.from({ length: 201 }, () => 'x') },
    ]);
    expect(tooMany.status).toBe(400);
  });
});

describe('log tail of an external engine process (fake vLLM)', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ef-dashboard-logs-'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('holds the last lines of engine.log', async () => {
    const log = createLogger('test');
    log.level = 'silent';
    const logTail = new LogTail({ maxLines: 3 });
    const workDir = join(dir, 'instance');
    await mkdir(workDir, { recursive: true });
    await writeFile(join(workDir, 'engine.log'), '');
    const supervisor = new ProcessEngineSupervisor({
      adapter: createVllmAdapter('vllm'),
      spec: {
        model: 'deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B',
        servedModelName: 'r1',
        host: '127.0.0.1',
        contextLength: 4096,
        accelerator: 'nvidia',
        deviceIndices: [0],
        tensorParallelSize: 1,
        executable: fakeVllm,
        env: { FAKE_VLLM_CRASH: 'CUDA out of memory' },
      },
      workDir,
      log,
      healthPollMs: 20,
      initialBackoffMs: 30,
      logTail,
    });
    supervisor.start();
    try {
      // It crashes at once and is restarted: each start writes the same error line.
      await waitFor(async () => (logTail.lines().length >= 3 ? true : undefined), 15_000, 'three crashes');
    } finally {
      await supervisor.stop(200);
    }
    expect(logTail.lines()).toEqual(Array.from({ length: 3 }, () => 'ERROR CUDA out of memory'));
    const file = (await readFile(join(workDir, 'engine.log'), 'utf8')).trim().split('\n');
    expect(file.length).toBeGreaterThanOrEqual(3);
    expect(file.slice(-3)).toEqual(logTail.lines());
  });
});

describe('instance logs end to end (built `edgefleet up`, embedded engine)', () => {
  let server: RunningEdgeFleet;
  let adminKey: string;
  let web: string;

  beforeAll(async () => {
    const model = await makeTestModel({});
    web = await mkdtemp(join(tmpdir(), 'ef-dashboard-web-'));
    await mkdir(join(web, 'assets'));
    await writeFile(join(web, 'index.html'), '<!doctype html><title>EdgeFleet</title>');
    await writeFile(join(web, 'assets', 'main-0a1b2c3d.css'), 'body{}');
    server = await startEdgeFleet(
      ['--model', model.path, '--name', 'plain', '--context', '512', '--prefill-chunk', '8', '--offline'],
      {
        env: { EDGEFLEET_LOG_LEVEL: 'info', EDGEFLEET_WEB_DIR: web },
      },
    );
    adminKey = (await readFile(join(server.home, 'admin-key'), 'utf8')).trim();
  });
  afterAll(async () => {
    await server?.stop();
    await rm(web, { recursive: true, force: true });
  });

  const get = async (path: string) => {
    const response = await fetch(`${server.baseUrl}${path}`, {
      headers: { authorization: `Bearer ${adminKey}` },
    });
    return { status: response.status, body: (await response.json()) as JsonObject };
  };

  it("shows the engine's log and the worker's notes for the running instance", async () => {
    const [instance] = listOf((await get('/api/v1/instances')).body);
    const id = instance!['id'] as string;
    const lines = await waitFor(
      async () => {
        const { body } = await get(`/api/v1/instances/${id}/logs`);
        const got = body['lines'] as string[];
        return got.some((l) => l.includes('engine ready')) && got.some((l) => l.includes('model loaded'))
          ? got
          : undefined;
      },
      30_000,
      'the engine log in the heartbeat',
    );
    expect(lines.some((l) => /\[edgefleet worker\] starting engine llama\.cpp/.test(l))).toBe(true);
    // The engine's JSON records arrive as readable lines: time, level, message.
    expect(lines.find((l) => l.includes('loading model'))).toMatch(
      /^\d{4}-\d\d-\d\dT[\d:.]+Z INFO loading model/,
    );
    // `up --prefill-chunk` reached the engine (chunked prefill itself: text-generator.test.ts).
    expect(lines.find((l) => l.includes('model loaded'))).toContain('"prefillChunk":8');
    expect(lines.length).toBeLessThanOrEqual(50);
    const bytes = lines.reduce((sum, line) => sum + Buffer.byteLength(line), 0);
    expect(bytes).toBeLessThanOrEqual(16 * 1024);
    const { body } = await get(`/api/v1/instances/${id}/logs?lines=2`);
    expect(body['lines'] as string[]).toHaveLength(2);
    expect(body['updatedAtMs'] as number).toBeGreaterThan(Date.now() - 60_000);
  });

  it('serves the dashboard beside the API', async () => {
    const page = await fetch(`${server.baseUrl}/`);
    expect(page.status).toBe(200);
    expect(page.headers.get('cache-control')).toBe('no-cache');
    expect(await page.text()).toContain('<title>EdgeFleet</title>');
    const css = await fetch(`${server.baseUrl}/assets/main-0a1b2c3d.css`);
    expect(css.headers.get('content-type')).toBe('text/css; charset=utf-8');
    expect(css.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
  });
});
