import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import OpenAI from 'openai';
import { afterAll, describe, expect, it } from 'vitest';
import { waitFor } from '../helpers/edgefleet-process.js';
import { makeTestModel } from '../helpers/models.js';
import { rows, runCli, startCli, startServer, TestResources, waitForOutput } from './fleet-processes.js';

/**
 * Scale to zero with a real server and worker: a deployment with `--min-replicas 0 --idle-timeout-s 2`
 * loses its instance once idle, and a chat request through the server's /v1 starts it again (the request
 * waits for the cold start within the server's upstream wait); so does one through a room's own
 * `edgefleet gateway`.
 */
describe('scale to zero (edgefleet server + worker)', () => {
  const resources = new TestResources();
  const { processes } = resources;

  afterAll(async () => {
    await resources.cleanup();
  });

  const tempDir = (prefix: string) => resources.tempDir(prefix);

  it('stops an idle deployment and starts it again on the next request', async () => {
    const model = await makeTestModel({});
    const serverHome = await tempDir('ef-server-');
    const server = await startServer(serverHome, [
      ...['--reconcile-ms', '200', '--context', '512', '--upstream-wait-ms', '30000'],
    ]);
    processes.push(server);
    const failWith = (error: unknown) => {
      throw new Error(`${String(error)}\n${JSON.stringify(processes.map((p) => p.output()))}`);
    };
    const token = (await readFile(join(serverHome, 'join-token'), 'utf8')).trim();
    const workerHome = await tempDir('ef-worker-');
    const worker = startCli([
      ...['worker', '--server', server.url, '--token', token, '--site', 'north', '--name', 'node-1'],
      ...['--home', workerHome, '--heartbeat-ms', '200', '--threads', '1', '--parallel', '1'],
    ]);
    processes.push(worker);
    await waitFor(
      async () => (rows((await server.api('GET', '/api/v1/nodes')).body).length === 1 ? true : undefined),
      15_000,
      'the worker to register',
    );

    const deployed = await runCli([
      ...['deploy', model.path, '--name', 'tiny', '--min-replicas', '0', '--idle-timeout-s', '2'],
      ...['--server', server.url, '--home', serverHome, '--json'],
    ]);
    expect(deployed.code, deployed.stderr).toBe(0);
    const deployment = JSON.parse(deployed.stdout) as Record<string, unknown>;
    expect(deployment).toMatchObject({ name: 'tiny', replicas: 1, minReplicas: 0, idleTimeoutMs: 2000 });
    const instances = async () =>
      rows((await server.api('GET', `/api/v1/instances?deployment=${String(deployment['id'])}`)).body);

    // Never requested: nothing runs, and the deployment says why.
    await waitFor(
      async () => {
        const got = (await server.api('GET', `/api/v1/deployments/${String(deployment['id'])}`)).body;
        return (got as Record<string, unknown>)['statusReason'] ===
          'scaled to zero; starts on the next request'
          ? true
          : undefined;
      },
      5000,
      'the deployment to be scaled to zero',
    ).catch(failWith);
    expect(await instances()).toEqual([]);

    // The first request starts it and waits for the cold start.
    const gateway = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: server.adminKey, maxRetries: 0 });
    const ask = () =>
      gateway.chat.completions.create({
        model: 'tiny',
        messages: [{ role: 'user', content: 'hi there' }],
        temperature: 0,
      });
    const first = await ask().catch(failWith);
    expect(first.choices[0]?.message.content).toBe(model.expectedText);
    const [started] = await instances();
    expect(started).toMatchObject({ state: 'running' });

    // Idle past 2 s: the instance is removed and its engine stopped.
    await waitFor(
      async () => ((await instances()).length === 0 ? true : undefined),
      10_000,
      'the idle instance to be removed',
    ).catch(failWith);
    const port = started?.['port'];
    await waitFor(
      async () => {
        const answered = await fetch(`http://127.0.0.1:${String(port)}/health`).catch(() => null);
        return answered === null ? true : undefined;
      },
      10_000,
      'the idle engine to stop',
    ).catch(failWith);

    // The next request brings it back.
    const again = await ask().catch(failWith);
    expect(again.choices[0]?.message.content).toBe(model.expectedText);
    const back = await instances();
    expect(back).toHaveLength(1);
    expect(back[0]).toMatchObject({ state: 'running' });
    expect(back[0]?.['id']).not.toBe(started?.['id']);

    // Idle again; this time a room's own gateway (`edgefleet gateway`) gets the request and starts it
    // through the control plane (POST /api/v1/gateway/activate).
    await waitFor(
      async () => ((await instances()).length === 0 ? true : undefined),
      10_000,
      'the idle instance to be removed again',
    ).catch(failWith);
    const room = startCli([
      ...['gateway', '--server', server.url, '--site', 'north', '--port', '0', '--api-key', server.adminKey],
      ...['--home', await tempDir('ef-gw-'), '--upstream-wait-ms', '30000'],
    ]);
    processes.push(room);
    const roomUrl = await waitForOutput(
      room,
      /listening on (http:\/\/\S+)/,
      'the room gateway',
      15_000,
    ).catch(failWith);
    const viaRoom = new OpenAI({ baseURL: `${roomUrl}/v1`, apiKey: server.adminKey, maxRetries: 0 });
    const fromRoom = await viaRoom.chat.completions
      .create({ model: 'tiny', messages: [{ role: 'user', content: 'hi there' }], temperature: 0 })
      .catch(failWith);
    expect(fromRoom.choices[0]?.message.content).toBe(model.expectedText);
    expect(await instances()).toHaveLength(1);

    expect(await room.stop()).toEqual({ code: 0, signal: null });
    expect(await worker.stop()).toEqual({ code: 0, signal: null });
    expect(await server.stop()).toEqual({ code: 0, signal: null });
  }, 70_000);
});
