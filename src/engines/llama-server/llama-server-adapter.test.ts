import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { makeTestModel } from '../../../test/helpers/models.js';
import { waitFor } from '../../../test/helpers/edgefleet-process.js';
import type { HealthState } from '../adapter/engine-adapter.js';
import { createLlamaServerAdapter } from './llama-server-adapter.js';

/** The llama-server built from node-llama-cpp's bundled llama.cpp source (absent on machines that skipped it). */
const binary = fileURLToPath(new URL('../../../.cache/llama.cpp/bin/llama-server', import.meta.url));

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

describe.skipIf(!existsSync(binary))('llama-server adapter against the real llama-server', () => {
  let child: ChildProcess | undefined;

  afterAll(() => {
    if (child?.pid !== undefined && child.exitCode === null) child.kill('SIGTERM');
  });

  it('launches from the plan, reports ready through parseHealth, serves OpenAI and parses its /metrics', async () => {
    const model = await makeTestModel();
    const adapter = createLlamaServerAdapter();
    const plan = adapter.launch({
      model: model.path,
      servedModelName: 'toy',
      host: '127.0.0.1',
      port: await freePort(),
      contextLength: 256,
      parallelSlots: 2,
      threads: 1,
      accelerator: 'cpu',
      executable: binary,
    });
    const spawned = spawn(plan.command, plan.args, { env: { ...process.env, ...plan.env }, stdio: 'ignore' });
    child = spawned;
    const base = `http://127.0.0.1:${plan.port}`;
    const seen: HealthState['state'][] = [];
    await waitFor(
      async () => {
        const response = await fetch(`${base}${plan.healthPath}`);
        const health = adapter.parseHealth(response.status, await response.text());
        seen.push(health.state);
        return health.state === 'ready' ? true : undefined;
      },
      30_000,
      'llama-server ready',
    );
    expect(seen.at(-1)).toBe('ready');
    expect(seen).not.toContain('error');

    const completion = await fetch(`${plan.openAiBaseUrl ?? ''}/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'toy', prompt: 'hello', max_tokens: 8 }),
    });
    expect(completion.status).toBe(200);
    const body = (await completion.json()) as {
      model: string;
      usage: { prompt_tokens: number; completion_tokens: number };
    };
    expect(body.model).toBe('toy');

    const metrics = await (await fetch(`http://127.0.0.1:${plan.metricsPort}${plan.metricsPath}`)).text();
    expect(adapter.parseMetrics(metrics)).toEqual({
      requestsRunning: 0,
      requestsWaiting: 0,
      kvCacheUsage: null,
      promptTokensTotal: body.usage.prompt_tokens,
      generationTokensTotal: body.usage.completion_tokens,
    });

    spawned.kill('SIGTERM');
    await new Promise((resolve) => spawned.once('exit', resolve));
  });
});
