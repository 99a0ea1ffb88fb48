import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../helpers/edgefleet-process.js';
import { makeTestModel, type TestModel } from '../helpers/models.js';
import {
  descendantPids,
  type FleetProcess,
  isAlive,
  type FleetServer,
  rows,
  runCli,
  startCli,
  startServer,
  TestResources,
} from './fleet-processes.js';

/**
 * Taking a server out of service with `edgefleet nodes drain NODE --wait`, against a server and two real
 * workers running real engines: the instance moves to the other worker while clients stream through the
 * gateway, no stream fails, and the command returns once nothing runs on the node. Draining the last node
 * fails after --timeout and says why; `uncordon` returns the nodes. A worker stopped with SIGTERM leaves:
 * its node is down at once (not after the heartbeat timeout) and its engine finishes the answer in flight.
 */
describe('edgefleet nodes drain', () => {
  const resources = new TestResources();
  let server: FleetServer;
  let connection: string[];
  let model: TestModel;
  const workers = new Map<string, FleetProcess>();

  beforeAll(async () => {
    model = await makeTestModel();
    const home = await resources.tempDir('ef-drain-server-');
    server = resources.track(await startServer(home, ['--reconcile-ms', '200']));
    for (const name of ['node-1', 'node-2']) {
      const workerHome = await resources.tempDir(`ef-drain-${name}-`);
      // Join tokens are single-use: the first start's, then a fresh one (`edgefleet server token`).
      const token =
        name === 'node-1'
          ? (await readFile(join(home, 'join-token'), 'utf8')).trim()
          : (await runCli(['server', 'token', '--home', home])).stdout.trim();
      workers.set(
        name,
        resources.track(
          startCli([
            ...['worker', '--server', server.url, '--token', token, '--site', 'local', '--name', name],
            ...['--home', workerHome, '--heartbeat-ms', '200', '--threads', '1', '--parallel', '1'],
          ]),
        ),
      );
    }
    connection = ['--server', server.url, '--home', home];
    await resources.explain(
      waitFor(
        async () => (rows((await server.api('GET', '/api/v1/nodes')).body).length === 2 ? true : undefined),
        20_000,
        'both workers to register',
      ),
    );
  });

  afterAll(async () => {
    await resources.cleanup();
  });

  const instances = async () => rows((await server.api('GET', '/api/v1/instances')).body);
  const nodeNames = async () =>
    new Map(rows((await server.api('GET', '/api/v1/nodes')).body).map((n) => [n['id'], n['name']]));

  it('moves the instance to the other node while streams keep being answered', async () => {
    const deployed = await runCli(['deploy', model.path, '--name', 'chat', ...connection]);
    expect(deployed.code, deployed.stderr).toBe(0);
    const old = await resources.explain(
      waitFor(
        async () => (await instances()).find((i) => i['state'] === 'running'),
        60_000,
        'the instance to run',
      ),
    );
    const names = await nodeNames();
    const owner = String(names.get(old['nodeId']));
    const other = owner === 'node-1' ? 'node-2' : 'node-1';

    const openai = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: server.adminKey, maxRetries: 0 });
    const answeredBy = new Set<string>();
    const streamingOn = new Set<string>();
    const failures: string[] = [];
    let complete = 0;
    let streaming = true;
    const client = async () => {
      while (streaming) {
        try {
          // `ignore_eos`: vLLM's extension, accepted by EdgeFleet; long enough to be in flight at the drain.
          const request = { model: 'chat', prompt: 'hello', max_tokens: 48, stream: true as const };
          const { data: stream, response } = await openai.completions
            .create({ ...request, ignore_eos: true } as typeof request)
            .withResponse();
          const instance = response.headers.get('x-edgefleet-instance') ?? '?';
          let finish: string | null = null;
          for await (const chunk of stream) {
            streamingOn.add(instance);
            finish = chunk.choices[0]?.finish_reason ?? finish;
          }
          if (finish !== 'length') failures.push(`ended with ${String(finish)}`);
          else complete += 1;
          answeredBy.add(instance);
        } catch (error) {
          failures.push(error instanceof Error ? error.message : String(error));
        }
      }
    };
    const load = Promise.all([client(), client()]);
    let drained: Awaited<ReturnType<typeof runCli>>;
    try {
      await resources.explain(
        waitFor(
          async () => (streamingOn.has(String(old['id'])) ? true : undefined),
          20_000,
          'a stream in flight on the instance',
        ),
      );
      drained = await runCli(['nodes', 'drain', owner, '--wait', '--timeout', '25', ...connection]);
      const answeredBefore = complete;
      await waitFor(async () => (complete >= answeredBefore + 2 ? true : undefined), 20_000, 'more answers');
    } finally {
      streaming = false;
      await load;
    }
    expect(drained.code, `${drained.stderr}\n${resources.logs()}`).toBe(0);
    // It returned once the worker had stopped the engine too (after the answers in flight).
    expect(await descendantPids(workers.get(owner)!.child.pid!)).toEqual([]);
    expect(drained.stdout).toContain(
      `draining node ${owner}: 1 instance(s) move to other nodes where they fit`,
    );
    expect(drained.stdout).toContain(`node ${owner} is drained: nothing runs on it`);
    expect(drained.stderr).toContain(`draining ${owner}: 1 instance(s) left`);

    expect(failures).toEqual([]);
    const now = await instances();
    expect(now.map((i) => names.get(i['nodeId']))).toEqual([other]);
    expect(answeredBy, resources.logs()).toEqual(new Set([String(old['id']), String(now[0]?.['id'])]));
    const listed = await runCli(['nodes', ...connection]);
    expect(listed.stdout).toMatch(new RegExp(`${owner}\\s.*up, draining`));
  }, 120_000);

  it('fails after --timeout when no other node can take the instance, then uncordon returns the nodes', async () => {
    const [running] = await instances();
    const last = String((await nodeNames()).get(running?.['nodeId']));
    const stuck = await runCli(['nodes', 'drain', last, '--wait', '--timeout', '2', ...connection]);
    expect(stuck.code).toBe(1);
    expect(stuck.stderr).toContain(`node ${last} still runs 1 instance(s) after 2 s; chat: moving off`);
    expect(stuck.stderr).toContain('no node is up and schedulable: 2 cordoned or draining');
    // It keeps serving meanwhile.
    const openai = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: server.adminKey, maxRetries: 0 });
    const reply = await openai.completions.create({ model: 'chat', prompt: 'hi', max_tokens: 2 });
    expect(reply.choices).toHaveLength(1);

    // The drained node, only cordoned now: it runs nothing.
    const drainedFirst = last === 'node-1' ? 'node-2' : 'node-1';
    const cordoned = await runCli(['nodes', 'cordon', drainedFirst, ...connection]);
    expect(cordoned.stdout).toBe(
      `cordoned node ${drainedFirst}: nothing new is placed on it; its 0 instance(s) keep running\n`,
    );
    const asJson = await runCli(['nodes', 'cordon', drainedFirst, ...connection, '--json']);
    expect(JSON.parse(asJson.stdout)).toMatchObject({
      name: drainedFirst,
      maintenance: 'cordoned',
      instances: [],
    });

    for (const name of ['node-1', 'node-2']) {
      const back = await runCli(['nodes', 'uncordon', name, ...connection]);
      expect(back.code, back.stderr).toBe(0);
      expect(back.stdout).toBe(`node ${name} is schedulable again\n`);
    }
    const listed = await runCli(['nodes', ...connection, '--json']);
    expect(rows(JSON.parse(listed.stdout)).map((n) => n['maintenance'])).toEqual([null, null]);
    const usage = await runCli(['nodes', 'drain', 'node-1', '--timeout', '5', ...connection]);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toContain('--timeout applies to --wait');
    const unknown = await runCli(['nodes', 'cordon', 'no-such-node', ...connection]);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('no node "no-such-node"');
  }, 60_000);

  it('a worker stopped with SIGTERM leaves: its node is down at once and its answer in flight completes', async () => {
    const [running] = await instances();
    const names = await nodeNames();
    const owner = String(names.get(running?.['nodeId']));
    const other = owner === 'node-1' ? 'node-2' : 'node-1';
    const worker = workers.get(owner)!;
    const engines = await descendantPids(worker.child.pid!);
    expect(engines.length).toBeGreaterThan(0);

    const openai = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: server.adminKey, maxRetries: 0 });
    const request = { model: 'chat', prompt: 'hello', max_tokens: 200, stream: true as const };
    const stream = await openai.completions.create({ ...request, ignore_eos: true } as typeof request);
    const chunks = stream[Symbol.asyncIterator]();
    expect((await chunks.next()).done).toBe(false);
    const stoppedAt = Date.now();
    const exited = worker.stop('SIGTERM');
    // The server's heartbeat timeout is 15 s; the leave makes the node down well before.
    const down = await resources.explain(
      waitFor(
        async () => {
          const nodes = rows((await server.api('GET', '/api/v1/nodes')).body);
          return nodes.find((n) => n['name'] === owner)?.['status'] === 'down' ? Date.now() : undefined;
        },
        5_000,
        'the node to be down',
      ),
    );
    expect(down - stoppedAt).toBeLessThan(5_000);
    let finish: string | null = null;
    for (let next = await chunks.next(); next.done !== true; next = await chunks.next()) {
      finish = next.value.choices[0]?.finish_reason ?? finish;
    }
    expect(finish, resources.logs()).toBe('length');
    expect(await exited).toEqual({ code: 0, signal: null });
    expect(engines.filter(isAlive)).toEqual([]);
    // Its last heartbeat said no engine is left.
    const gone = rows((await server.api('GET', '/api/v1/nodes')).body).find((n) => n['name'] === owner);
    expect(gone).toMatchObject({ status: 'down', downReason: 'left', engines: 0 });
    // The table tells it from a node that fell silent.
    const listed = await runCli(['nodes', ...connection]);
    expect(listed.stdout).toMatch(new RegExp(`${owner}\\s.*down \\(left\\)`));

    // Placed on the other node, which answers.
    const moved = await resources.explain(
      waitFor(
        async () => (await instances()).find((i) => i['state'] === 'running'),
        60_000,
        'the instance to run on the other node',
      ),
    );
    expect(names.get(moved['nodeId'])).toBe(other);
    const reply = await openai.completions.create({ model: 'chat', prompt: 'hi', max_tokens: 2 });
    expect(reply.choices).toHaveLength(1);
  }, 90_000);
});
