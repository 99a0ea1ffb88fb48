import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { engineTokenCounter } from '../../src/gateway/metering/engine-token-counter.js';
import type { RouteInstance } from '../../src/spec/route-table.js';
import { freePortBlock } from '../../src/worker/process-engine/free-ports.js';
import { waitFor } from '../helpers/edgefleet-process.js';
import { makeTestModel } from '../helpers/models.js';

/** Built by `npm run build:llama-server` (part of `npm test`); the test is skipped where it is absent. */
const llamaServer = fileURLToPath(new URL('../../.cache/llama.cpp/bin/llama-server', import.meta.url));

/**
 * The gateway's token counter against a real llama-server: counting a chat's prompt (its template applied
 * through `/apply-template`) and the answer's text (`/tokenize`) gives exactly the usage llama-server
 * itself reports for that request, streamed and not.
 */
describe.skipIf(!existsSync(llamaServer))("the gateway's token counter on llama-server", () => {
  let child: ChildProcess | undefined;
  let instance: RouteInstance;

  beforeAll(async () => {
    const model = await makeTestModel({});
    const port = await freePortBlock('127.0.0.1');
    child = spawn(
      llamaServer,
      ['-m', model.path, '--host', '127.0.0.1', '--port', String(port), '-c', '512', '-t', '1', '-np', '1'],
      { stdio: 'ignore' },
    );
    const url = `http://127.0.0.1:${port}`;
    await waitFor(
      async () => ((await fetch(`${url}/health`)).ok ? true : undefined),
      60_000,
      'llama-server to load its model',
    );
    instance = {
      id: 'i1',
      url,
      deploymentId: 'd1',
      nodeId: 'n1',
      nodeName: 'n1',
      siteId: 's1',
      siteName: 's1',
      region: null,
    };
  }, 90_000);

  afterAll(() => {
    child?.kill('SIGKILL');
  });

  const messages = [
    { role: 'system', content: 'You are terse.' },
    { role: 'user', content: 'Say something about rooms and routes.' },
  ];

  it('counts what llama-server reports for a chat answer', async () => {
    const response = await fetch(`${instance.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      // Cut by max_tokens: an answer ended by the end-of-generation token counts it in the engine's usage,
      // while its text (all the gateway can count) does not hold it.
      body: JSON.stringify({ model: 'm', messages, max_tokens: 8, temperature: 0 }),
    });
    const reply = (await response.json()) as {
      choices: { message: { content: string }; finish_reason: string }[];
      usage: { prompt_tokens: number; completion_tokens: number };
    };
    const text = reply.choices[0]!.message.content;
    expect(reply.choices[0]!.finish_reason).toBe('length');
    expect(reply.usage.completion_tokens).toBe(8);
    const counted = await engineTokenCounter()(instance, { model: 'm', messages }, text);
    expect(counted).toEqual({
      promptTokens: reply.usage.prompt_tokens,
      completionTokens: reply.usage.completion_tokens,
    });
  });

  it('counts a raw completion prompt with its special tokens', async () => {
    const prompt = 'Rooms answer the users nearest to them';
    const response = await fetch(`${instance.url}/v1/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'm', prompt, max_tokens: 16, temperature: 0 }),
    });
    const reply = (await response.json()) as {
      choices: { text: string; finish_reason: string }[];
      usage: { prompt_tokens: number; completion_tokens: number };
    };
    expect(reply.choices[0]!.finish_reason).toBe('length');
    const counted = await engineTokenCounter()(instance, { model: 'm', prompt }, reply.choices[0]!.text);
    expect(counted).toEqual({
      promptTokens: reply.usage.prompt_tokens,
      completionTokens: reply.usage.completion_tokens,
    });
  });
});
