import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import OpenAI from 'openai';
import { afterAll, describe, expect, it } from 'vitest';
import { waitFor } from '../helpers/edgefleet-process.js';
import { makeTestModel } from '../helpers/models.js';
import {
  commandLine,
  descendantPids,
  engineKey,
  type FleetProcess,
  type FleetServer,
  isAlive,
  rows,
  startCli,
  startServer,
  TestResources,
} from './fleet-processes.js';

/** Built by `npm run build:llama-server` (part of `npm test`); the test is skipped where it is absent. */
const llamaServer = fileURLToPath(new URL('../../.cache/llama.cpp/bin/llama-server', import.meta.url));

/** The llama-server processes the worker started (found under its process tree). */
async function llamaServerPids(worker: FleetProcess): Promise<number[]> {
  const pids = await descendantPids(worker.child.pid!);
  return pids.filter((pid) => isAlive(pid) && commandLine(pid).includes('llama-server'));
}

/**
 * A server and one worker as processes on 127.0.0.1; a generated GGUF deployed with engine llama-server runs
 * as a real llama-server under the worker (found through the default lookup of the bundled build), answers
 * the openai client with the model's exact text, is restarted after `kill -9`, and is gone after undeploy,
 * once the answer it was streaming has finished.
 */
describe.skipIf(!existsSync(llamaServer))('a llama-server instance run by edgefleet worker', () => {
  const resources = new TestResources();
  const { processes } = resources;

  afterAll(async () => {
    await resources.cleanup();
  });

  const tempDir = (prefix: string) => resources.tempDir(prefix);

  it('deploys, chats, survives kill -9 of llama-server and stops it on undeploy', async () => {
    // A model slow enough (about 70 tokens/s here) that an answer is still streaming after the undeploy.
    const model = await makeTestModel({ hidden: 768, layers: 6 });
    const serverHome = await tempDir('ef-ls-server-');
    const server: FleetServer = await startServer(serverHome, ['--reconcile-ms', '200', '--context', '512']);
    processes.push(server);
    const workerHome = await tempDir('ef-ls-worker-');
    const token = (await readFile(join(serverHome, 'join-token'), 'utf8')).trim();
    const worker = startCli(
      [
        'worker',
        ...['--server', server.url, '--token', token, '--site', 'north', '--name', 'node-ls'],
        ...['--home', workerHome, '--heartbeat-ms', '200', '--threads', '1', '--parallel', '1'],
      ],
      { env: { EDGEFLEET_LOG_LEVEL: 'info' } },
    );
    processes.push(worker);
    const diagnostics = () => `\nworker:\n${worker.output()}\nserver:\n${server.output()}`;

    const created = await server.api('POST', '/api/v1/deployments', {
      name: 'tiny-ls',
      model: model.path,
      engine: 'llama-server',
      replicas: 1,
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const deploymentId = (created.body as { id: string }).id;

    const runningInstance = async () =>
      rows((await server.api('GET', '/api/v1/instances')).body).find(
        (i) => i['deploymentId'] === deploymentId && i['state'] === 'running',
      );
    const first = await waitFor(runningInstance, 25_000, 'a running llama-server instance').catch(
      (error: unknown) => {
        throw new Error(`${String(error)}${diagnostics()}`);
      },
    );
    expect(first['engine']).toBe('llama-server');
    const [enginePid, ...others] = await llamaServerPids(worker);
    expect(enginePid, diagnostics()).toBeDefined();
    expect(others).toEqual([]);
    expect(commandLine(enginePid!)).toContain(`--port ${String(first['port'])}`);

    // llama-server requires the instance's engine key (given as LLAMA_API_KEY, not on its command line).
    const key = await engineKey(server, first['id']);
    expect(commandLine(enginePid!)).not.toContain(key);
    const open = await fetch(`http://127.0.0.1:${String(first['port'])}/v1/models`);
    expect(open.status).toBe(401);
    const chat = async (port: unknown) => {
      const client = new OpenAI({
        baseURL: `http://127.0.0.1:${String(port)}/v1`,
        apiKey: key,
        maxRetries: 0,
      });
      const reply = await client.chat.completions.create({
        model: 'tiny-ls',
        messages: [{ role: 'user', content: 'hi there' }],
        temperature: 0,
      });
      return reply.choices[0]?.message.content;
    };
    expect(await chat(first['port'])).toBe(model.expectedText);

    // kill -9 the engine: the worker starts a new llama-server and the instance comes back.
    process.kill(enginePid!, 'SIGKILL');
    const restartedPid = await waitFor(
      async () => (await llamaServerPids(worker)).find((pid) => pid !== enginePid),
      15_000,
      'a new llama-server process',
    );
    const again = await waitFor(
      async () => {
        const instance = await runningInstance();
        if (!instance) return undefined;
        return (await chat(instance['port']).catch(() => undefined)) === model.expectedText
          ? instance
          : undefined;
      },
      20_000,
      'the instance to serve again',
    );
    expect(again['id']).toBe(first['id']);
    expect(isAlive(enginePid!)).toBe(false);
    expect(worker.output()).toMatch(/engine exited; restarting/);
    expect(worker.output()).toMatch(/"restarts":1\b/);
    expect(worker.output()).toMatch(/"signal":"SIGKILL"/);

    // Undeploy while a stream is in flight: llama-server would abort it on SIGTERM, so the worker waits
    // until the engine's metrics say it finished, then stops llama-server.
    const client = new OpenAI({
      baseURL: `http://127.0.0.1:${String(again['port'])}/v1`,
      apiKey: key,
      maxRetries: 0,
    });
    const stream = await client.completions.create({
      model: 'tiny-ls',
      prompt: 'hi',
      max_tokens: 480,
      stream: true,
      ignore_eos: true,
    } as OpenAI.CompletionCreateParamsStreaming);
    let chunks = 0;
    let finish: string | null = null;
    for await (const chunk of stream) {
      chunks += 1;
      finish = chunk.choices[0]?.finish_reason ?? finish;
      if (chunks === 3) {
        const deleted = await server.api('DELETE', `/api/v1/deployments/${deploymentId}`);
        expect(deleted.status).toBe(200);
      }
    }
    expect(finish, diagnostics()).toBe('length');
    expect(chunks).toBeGreaterThanOrEqual(480);
    // The answer outlasted the 2 s the worker gives gateways: it read the answer in flight and waited.
    const drained = await waitFor(
      async () => /"maxInFlight":(\d+),"msg":"engine drained"/.exec(worker.output()) ?? undefined,
      5000,
      'the worker to see the engine drained',
    );
    expect(Number(drained[1])).toBe(1);
    await waitFor(
      async () => (isAlive(restartedPid) || (await llamaServerPids(worker)).length > 0 ? undefined : true),
      15_000,
      'llama-server to exit after undeploy',
    );
    expect(worker.child.exitCode).toBeNull(); // the worker itself keeps running
  }, 90_000);
});
