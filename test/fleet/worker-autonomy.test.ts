import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import OpenAI from 'openai';
import { afterAll, describe, expect, it } from 'vitest';
import { waitFor } from '../helpers/edgefleet-process.js';
import { makeTestModel } from '../helpers/models.js';
import {
  engineKey,
  type FleetServer,
  rows,
  startCli,
  startServer,
  TestResources,
} from './fleet-processes.js';

/**
 * Site autonomy: a worker keeps serving while the control plane is down, re-syncs without restarting
 * its engine when it comes back, stops its engines on SIGTERM, and restarts with its saved credential.
 */
describe('edgefleet worker without its control plane', () => {
  const resources = new TestResources();
  const { processes } = resources;

  afterAll(async () => {
    await resources.cleanup();
  });

  const tempDir = (prefix: string) => resources.tempDir(prefix);

  it('keeps serving, re-syncs without a restart, and re-uses its credential', async () => {
    const model = await makeTestModel({});
    const serverHome = await tempDir('ef-server-');
    const workerHome = await tempDir('ef-worker-');
    const serverFlags = ['--node-timeout-ms', '5000', '--reconcile-ms', '200', '--context', '512'];
    let server: FleetServer = await startServer(serverHome, serverFlags);
    processes.push(server);
    const port = new URL(server.url).port;
    const workerArgs = [
      ...['worker', '--server', server.url, '--site', 'edge', '--name', 'n1', '--home', workerHome],
      ...['--heartbeat-ms', '200', '--threads', '1', '--parallel', '1'],
    ];
    const token = (await readFile(join(serverHome, 'join-token'), 'utf8')).trim();
    let worker = startCli([...workerArgs, '--token', token]);
    processes.push(worker);
    const created = await server.api('POST', '/api/v1/deployments', {
      name: 'tiny',
      model: model.path,
      replicas: 1,
    });
    expect(created.status).toBe(201);
    const runningPort = async (current: FleetServer) => {
      const [instance] = rows((await current.api('GET', '/api/v1/instances')).body);
      return instance?.['state'] === 'running' ? Number(instance['port']) : undefined;
    };
    const enginePort = await waitFor(() => runningPort(server), 20_000, 'the instance to run');
    // The engine requires its instance's key, which the worker keeps while the server is away.
    const [running] = rows((await server.api('GET', '/api/v1/instances')).body);
    const key = await engineKey(server, running?.['id']);
    const chat = async () => {
      const client = new OpenAI({ baseURL: `http://127.0.0.1:${enginePort}/v1`, apiKey: key, maxRetries: 0 });
      const reply = await client.chat.completions.create({
        model: 'tiny',
        messages: [{ role: 'user', content: 'hi there' }],
        temperature: 0,
      });
      return reply.choices[0]?.message.content;
    };

    // The control plane goes away: the worker keeps its engine and it keeps answering.
    expect(await server.stop()).toEqual({ code: 0, signal: null });
    await new Promise((resolve) => setTimeout(resolve, 1000));
    expect(await chat()).toBe(model.expectedText);
    expect(worker.child.exitCode).toBeNull();

    // It comes back on the same port: the worker re-syncs and the same engine (same port) is reported.
    server = await startServer(serverHome, [...serverFlags, '--port', port]);
    processes.push(server);
    const current = server;
    await waitFor(
      async () => ((await runningPort(current)) === enginePort ? true : undefined),
      15_000,
      'the instance to be reported running again',
    );
    expect(await chat()).toBe(model.expectedText);

    // SIGTERM stops the engine and exits 0.
    expect(await worker.stop()).toEqual({ code: 0, signal: null });
    expect(await fetch(`http://127.0.0.1:${enginePort}/health`).catch(() => null)).toBeNull();

    // A restart without a token re-uses the saved node credential.
    worker = startCli(workerArgs);
    processes.push(worker);
    await waitFor(
      async () => {
        const next = await runningPort(current);
        return next !== undefined && next !== enginePort ? true : undefined;
      },
      20_000,
      'the restarted worker to run the instance again',
    );
    expect(rows((await server.api('GET', '/api/v1/nodes')).body)).toHaveLength(1);
    expect(await worker.stop()).toEqual({ code: 0, signal: null });
  }, 60_000);
});
