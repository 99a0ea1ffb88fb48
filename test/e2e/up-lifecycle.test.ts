import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTestModel } from '../helpers/models.js';
import { startEdgeFleet, waitFor, type RunningEdgeFleet } from '../helpers/edgefleet-process.js';

interface Health {
  status: string;
  engine: {
    state: string;
    pid?: number;
    restarts: number;
    lastExit?: { signal: string | null; reason: string };
  };
}

const health = async (server: RunningEdgeFleet) =>
  (await (await fetch(`${server.baseUrl}/health`)).json()) as Health;

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('edgefleet up: engine crash, restart and shutdown', () => {
  let server: RunningEdgeFleet;
  let client: OpenAI;

  beforeAll(async () => {
    const model = await makeTestModel({});
    server = await startEdgeFleet(['--model', model.path, '--name', 'm', '--context', '512', '--offline']);
    client = new OpenAI({ baseURL: `${server.baseUrl}/v1`, apiKey: 'unused', maxRetries: 0 });
  });

  afterAll(async () => {
    await server?.stop();
  });

  it('ends a stream that the dying engine breaks with an error, never as a success', async () => {
    const before = await health(server);
    const stream = await client.completions.create({
      model: 'm',
      prompt: 'hello',
      max_tokens: 480,
      temperature: 0,
      stream: true,
      ignore_eos: true, // vLLM's extension, accepted by EdgeFleet
    } as OpenAI.CompletionCreateParamsStreaming);
    let chunks = 0;
    const consume = (async () => {
      for await (const chunk of stream) {
        if (chunk.choices[0]?.text) chunks++;
        if (chunks === 3) process.kill(before.engine.pid!, 'SIGKILL');
      }
    })();
    await expect(consume).rejects.toThrow(/engine stopped/);
    expect(chunks).toBeGreaterThanOrEqual(3);
  });

  it('restarts the killed engine, reports why it died, and serves again', async () => {
    const restarted = await waitFor(
      async () => {
        const h = await health(server);
        return h.status === 'ready' && h.engine.restarts >= 1 ? h : undefined;
      },
      30_000,
      'the engine to restart',
    );
    expect(restarted.engine.lastExit?.signal).toBe('SIGKILL');
    // A kill leaves no line of the engine's own: the reason says how it ended, not its last log line.
    expect(restarted.engine.lastExit?.reason).toBe('killed by SIGKILL');
    const reply = await client.chat.completions.create({
      model: 'm',
      messages: [{ role: 'user', content: 'hi' }],
      max_tokens: 4,
    });
    expect(reply.choices[0]?.message.content?.length).toBeGreaterThan(0);
  });

  it('holds requests that arrive while the engine restarts and answers them once it is back', async () => {
    const { engine } = await health(server);
    process.kill(engine.pid!, 'SIGKILL');
    // /health is never 'ready' while its engine is not (the route table catches up a moment later).
    const down = await waitFor(
      async () => {
        const h = await health(server);
        return h.engine.state !== 'ready' ? h : undefined;
      },
      5000,
      'the engine to go down',
    );
    expect(down.status).not.toBe('ready');
    const reply = await client.chat.completions.create({
      model: 'm',
      messages: [{ role: 'user', content: 'hi' }],
      max_tokens: 4,
    });
    expect(reply.choices[0]?.finish_reason).toBe('length');
    expect((await health(server)).engine.restarts).toBeGreaterThanOrEqual(2);
  });

  it('stops cleanly on SIGTERM, engine child included', async () => {
    const { engine } = await health(server);
    expect(isAlive(engine.pid!)).toBe(true);
    const exit = await server.stop();
    expect(exit.code).toBe(0);
    await waitFor(async () => (isAlive(engine.pid!) ? undefined : true), 5000, 'the engine process to exit');
  });
});

describe('edgefleet up: stopped while an answer streams', () => {
  // SIGTERM to the process (a service manager), or Ctrl-C in a terminal: SIGINT to the whole
  // foreground process group, which must not reach the engine before `up` has drained it.
  it.each([
    ['SIGTERM to its PID', false],
    ['SIGINT to its process group (Ctrl-C)', true],
  ])(
    '%s: lets the stream finish before it stops the engine, then exits 0',
    async (_how, ctrlC) => {
      // A model slow enough (about 50 tokens/s here) that the answer is still streaming when the signal comes.
      const model = await makeTestModel({ hidden: 768, layers: 6 });
      const server = await startEdgeFleet(
        ['--model', model.path, '--name', 'm', '--context', '512', '--offline'],
        { ownGroup: ctrlC },
      );
      const { engine } = await health(server);
      try {
        const response = await fetch(`${server.baseUrl}/v1/chat/completions`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({
            model: 'm',
            messages: [{ role: 'user', content: 'hi' }],
            max_tokens: 60,
            ignore_eos: true,
            stream: true,
          }),
        });
        expect(response.status).toBe(200);
        const reader = response.body!.getReader();
        const decoder = new TextDecoder();
        let text = decoder.decode((await reader.read()).value);
        if (ctrlC) process.kill(-server.child.pid!, 'SIGINT');
        const exited = ctrlC ? server.exited : server.stop(); // SIGTERM, while the answer streams
        for (;;) {
          const { done, value } = await reader.read();
          if (done) break;
          text += decoder.decode(value, { stream: true });
        }
        expect(text).not.toContain('"error"');
        expect(text).toContain('"finish_reason":"length"');
        expect(text.trimEnd().endsWith('data: [DONE]')).toBe(true);
        expect((await exited).code).toBe(0);
        // No error-level (50) line: the engine was not stopped under the worker, which would restart it.
        expect(server.stdout() + server.stderr()).not.toMatch(/"level":(50|60)/);
        await waitFor(
          async () => (isAlive(engine.pid!) ? undefined : true),
          5000,
          'the engine process to exit',
        );
      } finally {
        await server.stop();
      }
    },
    120_000,
  );
});
