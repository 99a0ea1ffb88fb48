import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import OpenAI from 'openai';
import { afterAll, describe, expect, it } from 'vitest';
import { createVllmAdapter } from '../../src/engines/vllm/vllm-adapter.js';
import { createLogger } from '../../src/telemetry/logger.js';
import { InstanceRunner } from '../../src/worker/agent/instance-runner.js';
import { waitFor } from '../helpers/edgefleet-process.js';
import { engineKey, isAlive, rows, startCli, startServer, TestResources } from './fleet-processes.js';

const fixtures = fileURLToPath(new URL('../fixtures/', import.meta.url));
const fakeVllm = join(fixtures, 'engines', 'fake-vllm.mjs');
/** Captured `nvidia-smi --query-gpu=… --format=csv` of an 8 × RTX 4090 server. */
const nvidiaCapture = join(fixtures, 'accelerators', 'nvidia', 'rtx4090x8-query.csv');
const FAKE_VLLM_REPLY = 'Hello from the fake vLLM.';

interface LaunchRecord {
  argv: string[];
  cwd: string;
  env: Record<string, string>;
  pid: number;
}

/**
 * A worker whose accelerator detection reads captured nvidia-smi output (a fake `nvidia-smi` first on its
 * PATH) runs a vLLM deployment through the vLLM adapter, with a test double as `--engine-bin vllm=…` that
 * speaks vLLM's HTTP API and metrics: the launch command line and CUDA pinning are the adapter's for the
 * scheduler's allocation, the openai client gets the double's reply, and /metrics is scraped.
 */
describe('a vLLM instance run by edgefleet worker (test double for vllm)', () => {
  const resources = new TestResources();
  const { processes } = resources;

  afterAll(async () => {
    await resources.cleanup();
  });

  const tempDir = (prefix: string) => resources.tempDir(prefix);

  it('launches vllm serve with the adapter arguments on the allocated GPUs and scrapes its metrics', async () => {
    const tools = await tempDir('ef-fake-tools-');
    await mkdir(tools, { recursive: true });
    await writeFile(join(tools, 'nvidia-smi'), `#!/bin/sh\ncat '${nvidiaCapture}'\n`);
    await chmod(join(tools, 'nvidia-smi'), 0o755);

    const serverHome = await tempDir('ef-vllm-server-');
    const server = await startServer(serverHome, ['--reconcile-ms', '200', '--context', '4096']);
    processes.push(server);
    const workerHome = await tempDir('ef-vllm-worker-');
    const token = (await readFile(join(serverHome, 'join-token'), 'utf8')).trim();
    const path = process.env['PATH'];
    process.env['PATH'] = `${tools}${delimiter}${path ?? ''}`; // the worker inherits it at spawn
    // The double reports its real load (idle), not the captured busy one: the undeploy below would
    // otherwise wait out the worker's drain of the answers in flight.
    const worker = startCli(
      [
        'worker',
        ...['--server', server.url, '--token', token, '--site', 'gpu-room', '--name', 'node-gpu'],
        ...['--home', workerHome, '--heartbeat-ms', '200', '--engine-bin', `vllm=${fakeVllm}`],
      ],
      { env: { FAKE_VLLM_REPLY_MS: '0' } },
    );
    process.env['PATH'] = path;
    processes.push(worker);
    const diagnostics = () => `\nworker:\n${worker.output()}\nserver:\n${server.output()}`;

    const node = await waitFor(
      async () => rows((await server.api('GET', '/api/v1/nodes')).body)[0],
      15_000,
      'the worker to register',
    );
    const gpus = (node['devices'] as { vendor: string; kind: string }[]).filter((d) => d.kind === 'gpu');
    expect(gpus, diagnostics()).toHaveLength(8);
    expect(gpus.every((d) => d.vendor === 'nvidia')).toBe(true);

    // 14B in bf16 (~30 GB of weights) does not fit one 24 GB card: tensor parallel over several.
    const created = await server.api('POST', '/api/v1/deployments', {
      name: 'r1-14b',
      model: 'deepseek-r1-distill-qwen-14b',
      quant: 'bf16',
      engine: 'vllm',
      replicas: 1,
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const deploymentId = (created.body as { id: string }).id;
    const instance = await waitFor(
      async () =>
        rows((await server.api('GET', '/api/v1/instances')).body).find(
          (i) => i['deploymentId'] === deploymentId && i['state'] === 'running',
        ),
      20_000,
      'a running vLLM instance',
    ).catch((error: unknown) => {
      throw new Error(`${String(error)}${diagnostics()}`);
    });
    const devices = (instance['allocations'] as { deviceIndex: number }[]).map((a) => a.deviceIndex);
    expect(devices.length).toBeGreaterThanOrEqual(2);
    const port = instance['port'] as number;

    const workDir = join(workerHome, 'instances', instance['id'] as string);
    const launched = JSON.parse(
      await readFile(join(workDir, 'fake-vllm-launch.json'), 'utf8'),
    ) as LaunchRecord;
    const expected = createVllmAdapter('vllm').launch({
      model: 'deepseek-ai/DeepSeek-R1-Distill-Qwen-14B',
      servedModelName: 'r1-14b',
      host: '127.0.0.1',
      port,
      contextLength: 4096,
      accelerator: 'nvidia',
      deviceIndices: devices,
      tensorParallelSize: devices.length,
    });
    expect(launched.argv).toEqual(expected.args);
    expect(launched.argv.slice(0, 2)).toEqual(['serve', 'deepseek-ai/DeepSeek-R1-Distill-Qwen-14B']);
    expect(launched.argv.join(' ')).toContain(`--tensor-parallel-size ${devices.length}`);
    expect(launched.env['CUDA_VISIBLE_DEVICES']).toBe(devices.join(','));
    expect(launched.cwd).toBe(workDir);

    // vLLM requires the instance's engine key on /v1 (VLLM_API_KEY, not on its command line).
    const key = await engineKey(server, instance['id']);
    expect(launched.env['VLLM_API_KEY']).toBe(key);
    expect(launched.argv.join(' ')).not.toContain(key);
    expect((await fetch(`http://127.0.0.1:${port}/v1/models`)).status).toBe(401);
    const client = new OpenAI({ baseURL: `http://127.0.0.1:${port}/v1`, apiKey: key, maxRetries: 0 });
    const models = await client.models.list();
    expect(models.data.map((m) => m.id)).toEqual(['r1-14b']);
    const reply = await client.chat.completions.create({
      model: 'r1-14b',
      messages: [{ role: 'user', content: 'hi' }],
    });
    expect(reply.choices[0]?.message.content).toBe(FAKE_VLLM_REPLY);

    // The worker scrapes /metrics as soon as the engine is ready.
    await waitFor(
      async () =>
        (await readFile(join(workDir, 'fake-vllm-scrapes.txt'), 'utf8').catch(() => '')) ? true : undefined,
      10_000,
      'a /metrics scrape',
    );

    const deleted = await server.api('DELETE', `/api/v1/deployments/${deploymentId}`);
    expect(deleted.status).toBe(200);
    await waitFor(
      async () => (isAlive(launched.pid) ? undefined : true),
      10_000,
      'the engine to stop on undeploy',
    );
  }, 60_000);

  it('reports the scraped vLLM load and restarts in the heartbeat report', async () => {
    const home = await tempDir('ef-vllm-runner-');
    const log = createLogger('test');
    log.level = 'silent';
    const runner = new InstanceRunner({
      instance: {
        id: 'inst-1',
        deploymentId: 'dep-1',
        modelRef: 'Qwen/Qwen2.5-7B-Instruct',
        servedName: 'qwen',
        engine: 'vllm',
        quant: 'fp8',
        deviceIndexes: [5, 6],
        contextTokens: 2048,
      },
      home,
      bindHost: '127.0.0.1',
      threads: 1,
      parallel: 1,
      cpuOnly: false,
      devices: Array.from({ length: 8 }, (_, index) => ({ index, vendor: 'nvidia', kind: 'gpu' })),
      engineBins: { vllm: fakeVllm },
      log,
    });
    try {
      runner.start();
      const report = await waitFor(
        async () => {
          const r = runner.report();
          return r.state === 'running' && r.load ? r : undefined;
        },
        10_000,
        'a running instance with a scraped load',
      );
      // vllm-v1-metrics.txt: two engines, 5 + 3 running, 2 + 0 waiting, KV 0.625 and 0.375.
      expect(report).toMatchObject({
        restarts: 0,
        load: { requestsRunning: 8, requestsWaiting: 2, kvCacheUsage: 0.5 },
      });
      const launched = JSON.parse(
        await readFile(join(home, 'instances', 'inst-1', 'fake-vllm-launch.json'), 'utf8'),
      ) as LaunchRecord;
      expect(launched.env['CUDA_VISIBLE_DEVICES']).toBe('5,6');
      expect(launched.argv.join(' ')).toContain('--tensor-parallel-size 2');
      expect(launched.argv.join(' ')).toContain('--quantization fp8');
      expect(launched.argv.join(' ')).toContain(`--port ${String(report.port)}`);
    } finally {
      await runner.stop();
    }
    expect(runner.report().state).toBe('stopped');
  });
});
