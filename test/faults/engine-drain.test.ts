import { spawn } from 'node:child_process';
import OpenAI from 'openai';
import { describe, expect, it } from 'vitest';
import { binPath, waitFor } from '../helpers/edgefleet-process.js';
import { makeTestModel } from '../helpers/models.js';
import { isAlive } from '../fleet/fleet-processes.js';

/**
 * SIGTERM is how a worker stops an instance it no longer runs (scaled down, or replaced by a new revision
 * of its deployment): the embedded engine then takes no new request and lets the answers in flight
 * finish before it exits, so retiring an instance breaks no stream.
 */
describe('embedded engine stopped with SIGTERM while it answers', () => {
  it('finishes the stream in flight, refuses new requests, then exits 0', async () => {
    const model = await makeTestModel({ contextLength: 1024 });
    const child = spawn(
      process.execPath,
      [binPath, 'engine', '--model', model.path, '--context', '1024', '--threads', '1', '--port', '0'],
      { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, EDGEFLEET_LOG_LEVEL: 'warn' } },
    );
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (text: string) => (out += text));
    child.stderr.resume();
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      const port = await waitFor(
        async () => /EDGEFLEET_ENGINE_LISTENING (\d+)/.exec(out)?.[1],
        20_000,
        'the engine to listen',
      );
      const baseUrl = `http://127.0.0.1:${port}`;
      await waitFor(
        async () => ((await fetch(`${baseUrl}/health`).catch(() => undefined))?.ok ? true : undefined),
        30_000,
        'the model to load',
      );
      const client = new OpenAI({ baseURL: `${baseUrl}/v1`, apiKey: 'none', maxRetries: 0 });
      const maxTokens = 900;
      // `ignore_eos` (vLLM's extension, accepted by EdgeFleet): every answer is max_tokens long.
      const request = {
        model: model.path
          .split('/')
          .pop()!
          .replace(/\.gguf$/, ''),
        prompt: 'hello',
        max_tokens: maxTokens,
        stream: true as const,
        ignore_eos: true,
      };
      const stream = await client.completions.create(request);
      let chunks = 0;
      let finish: string | null = null;
      let signalled = false;
      let chunksAtSignal = 0;
      for await (const chunk of stream) {
        if (chunk.choices[0]?.text) chunks += 1;
        finish = chunk.choices[0]?.finish_reason ?? finish;
        if (!signalled && chunks >= 5) {
          signalled = true;
          chunksAtSignal = chunks;
          child.kill('SIGTERM');
          // Stopping: no new request is taken (a new connection is refused, or answered 503).
          await waitFor(
            async () => {
              const health = await fetch(`${baseUrl}/health`).catch(() => null);
              return health === null || health.status === 503 ? true : undefined;
            },
            5000,
            'the engine to refuse new requests',
          );
        }
      }
      expect(signalled).toBe(true);
      // The signal came in the middle of the answer, and the whole answer still came.
      expect(chunksAtSignal).toBeLessThan(maxTokens / 2);
      expect(finish).toBe('length');
      expect(chunks).toBeGreaterThan(maxTokens * 0.9);
      expect(await exited).toBe(0);
    } finally {
      if (child.pid !== undefined && isAlive(child.pid)) child.kill('SIGKILL');
    }
  }, 90_000);
});
