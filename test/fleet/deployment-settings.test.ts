import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../helpers/edgefleet-process.js';
import { makeTestModel, type TestModel } from '../helpers/models.js';
import { type FleetServer, rows, runCli, startCli, startServer, TestResources } from './fleet-processes.js';

/**
 * What a deployment is created and changed with, against a server and a worker running real engines:
 * its own context (a model trained for 256 tokens cannot run with the server's default 4096, and says so
 * with what to do; deployed with `--context 256` it runs, and its engine holds prompts to that length),
 * scaling in place (`edgefleet scale`), and a rolling update to a new context (`edgefleet redeploy`).
 */
describe('deployment context and scaling', () => {
  const resources = new TestResources();
  let server: FleetServer;
  let connection: string[];
  let model: TestModel;

  beforeAll(async () => {
    model = await makeTestModel({ contextLength: 256 });
    const home = await resources.tempDir('ef-context-server-');
    server = resources.track(await startServer(home, ['--reconcile-ms', '200']));
    const token = (await readFile(join(home, 'join-token'), 'utf8')).trim();
    const workerHome = await resources.tempDir('ef-context-worker-');
    resources.track(
      startCli([
        'worker',
        ...['--server', server.url, '--token', token, '--site', 'local', '--name', 'node-1'],
        ...['--home', workerHome, '--heartbeat-ms', '200', '--threads', '1', '--parallel', '1'],
      ]),
    );
    connection = ['--server', server.url, '--home', home];
  });

  afterAll(async () => {
    await resources.cleanup();
  });

  /** The instances of deployment `id` in `state`. */
  const instancesIn = async (id: string, state: string) =>
    rows((await server.api('GET', `/api/v1/instances?deployment=${id}`)).body).filter(
      (i) => i['state'] === state,
    );

  it('keeps a model trained for less than the default pending with a hint, and runs it with --context', async () => {
    // The server's default context (4096) is longer than the model's 256 tokens.
    const plain = await runCli(['deploy', model.path, '--name', 'plain', ...connection, '--json']);
    expect(plain.code, plain.stderr).toBe(0);
    expect(JSON.parse(plain.stdout)).toMatchObject({ name: 'plain', contextTokens: null });
    const reason = await resources.explain(
      waitFor(
        async () => {
          const deployments = rows((await server.api('GET', '/api/v1/deployments')).body);
          const why = deployments.find((d) => d['name'] === 'plain')?.['statusReason'];
          return typeof why === 'string' && why.includes('context') ? why : undefined;
        },
        20_000,
        'the pending reason',
      ),
    );
    expect(reason).toMatch(/context 4096 is longer than .*'s 256 tokens/);
    expect(reason).toContain('edgefleet deploy --context N');

    const refused = await runCli(['deploy', model.path, '--name', 'tiny', '--context', '8', ...connection]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('--context must be an integer from 32 to 1048576');

    const short = await runCli([
      'deploy',
      model.path,
      '--name',
      'short',
      '--context',
      '256',
      ...connection,
      '--json',
    ]);
    expect(short.code, short.stderr).toBe(0);
    expect(JSON.parse(short.stdout)).toMatchObject({ name: 'short', contextTokens: 256 });
    await resources.explain(
      waitFor(
        async () => {
          const deployments = rows((await server.api('GET', '/api/v1/deployments')).body);
          return deployments.find((d) => d['name'] === 'short')?.['status'] === 'running' ? true : undefined;
        },
        30_000,
        'the short-context deployment to run',
      ),
    );
    const client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: server.adminKey, maxRetries: 0 });
    const reply = await resources.explain(
      waitFor(
        () => client.completions.create({ model: 'short', prompt: 'hello', max_tokens: 4 }),
        15_000,
        'an answer from the short-context deployment',
      ),
    );
    expect(reply.choices[0]?.text.length).toBeGreaterThan(0);
    // The engine runs with 256 tokens: a longer prompt is refused by its context, not the default's.
    await expect(
      client.completions.create({ model: 'short', prompt: 'word '.repeat(400), max_tokens: 4 }),
    ).rejects.toMatchObject({
      status: 400,
      message: expect.stringContaining('maximum context length is 256'),
    });
  }, 90_000);

  it('scales a running deployment up and down in place, and refuses a minReplicas above its replicas', async () => {
    const deployments = rows((await server.api('GET', '/api/v1/deployments')).body);
    const id = String(deployments.find((d) => d['name'] === 'short')?.['id']);
    expect(await instancesIn(id, 'running')).toHaveLength(1);

    const up = await runCli(['scale', id, '--replicas', '2', ...connection, '--json']);
    expect(up.code, up.stderr).toBe(0);
    // It never scaled down, so it still does not: minReplicas follows replicas.
    expect(JSON.parse(up.stdout)).toMatchObject({ id, replicas: 2, minReplicas: 2 });
    const two = await resources.explain(
      waitFor(
        async () => ((await instancesIn(id, 'running')).length === 2 ? true : undefined),
        30_000,
        'two replicas',
      ),
    );
    expect(two).toBe(true);

    const refused = await runCli(['scale', id, '--min-replicas', '3', ...connection]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('minReplicas (3) must not exceed replicas (2)');
    expect((await runCli(['scale', id, ...connection])).code).toBe(2);
    const missing = await server.api('PATCH', '/api/v1/deployments/no-such-id', { replicas: 1 });
    expect(missing.status).toBe(404);

    const down = await runCli(['scale', id, '--replicas', '1', ...connection]);
    expect(down.code, down.stderr).toBe(0);
    expect(down.stdout).toContain('short');
    await resources.explain(
      waitFor(
        async () => {
          const running = await instancesIn(id, 'running');
          const all = rows((await server.api('GET', `/api/v1/instances?deployment=${id}`)).body);
          return running.length === 1 && all.length === 1 ? true : undefined;
        },
        30_000,
        'one replica left',
      ),
    );
    // The one left still answers.
    const client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: server.adminKey, maxRetries: 0 });
    const reply = await client.completions.create({ model: 'short', prompt: 'hello', max_tokens: 2 });
    expect(reply.choices).toHaveLength(1);
  }, 90_000);

  it('rolls a running deployment over to a new context while its streams keep being answered', async () => {
    const deployments = rows((await server.api('GET', '/api/v1/deployments')).body);
    const id = String(deployments.find((d) => d['name'] === 'short')?.['id']);
    const [old] = await instancesIn(id, 'running');
    expect(old).toMatchObject({ revision: 1 });

    // Streams one after another through the gateway for the whole update, each long enough (96 tokens,
    // `ignore_eos`) that some are in flight when the old instance is retired.
    const openai = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: server.adminKey, maxRetries: 0 });
    const answeredBy = new Set<string>();
    const failures: string[] = [];
    let complete = 0;
    let streaming = true;
    // The instance of each stream that has relayed its first chunk, so the update starts only once one
    // is in flight on the old instance.
    const streamingOn = new Set<string>();
    // Three clients at once on engines of one slot each: requests queue, so some are in flight on the
    // old instance for a while when it is retired.
    const client = async () => {
      while (streaming) {
        try {
          // `ignore_eos`: vLLM's extension, accepted by EdgeFleet.
          const request = {
            model: 'short',
            prompt: 'hello',
            max_tokens: 96,
            stream: true as const,
            ignore_eos: true,
          };
          const { data: stream, response } = await openai.completions.create(request).withResponse();
          const instance = response.headers.get('x-edgefleet-instance') ?? '?';
          let text = '';
          let finish: string | null = null;
          for await (const chunk of stream) {
            streamingOn.add(instance);
            text += chunk.choices[0]?.text ?? '';
            finish = chunk.choices[0]?.finish_reason ?? finish;
          }
          if (finish !== 'length' || text === '') failures.push(`ended with ${String(finish)}: "${text}"`);
          else complete += 1;
          answeredBy.add(instance);
        } catch (error) {
          failures.push(error instanceof Error ? error.message : String(error));
        }
      }
    };
    const load = Promise.all([client(), client(), client()]);
    // The clients stop however this ends (a failed wait must not leave them looping).
    let replaced: Record<string, unknown>;
    try {
      await resources.explain(
        waitFor(
          async () => (streamingOn.has(String(old?.['id'])) ? true : undefined),
          20_000,
          'a stream in flight on the old instance',
        ),
      );

      const changed = await runCli(['redeploy', id, '--context', '128', ...connection, '--json']);
      expect(changed.code, changed.stderr).toBe(0);
      expect(JSON.parse(changed.stdout)).toMatchObject({ id, revision: 2, contextTokens: 128, replicas: 1 });
      replaced = await resources.explain(
        waitFor(
          async () => {
            const all = rows((await server.api('GET', `/api/v1/instances?deployment=${id}`)).body);
            const deployment = (await server.api('GET', `/api/v1/deployments/${id}`)).body as Record<
              string,
              unknown
            >;
            return all.length === 1 &&
              all[0]?.['revision'] === 2 &&
              all[0]['state'] === 'running' &&
              deployment['statusReason'] === null
              ? all[0]
              : undefined;
          },
          60_000,
          'the new revision to replace the old instance',
        ),
      );
      // Streams answered by the new instance too, then stop.
      const answeredBefore = complete;
      await waitFor(async () => (complete >= answeredBefore + 3 ? true : undefined), 20_000, 'more answers');
    } finally {
      streaming = false;
      await load;
    }
    expect(failures).toEqual([]);
    expect(answeredBy, resources.logs()).toEqual(new Set([String(old?.['id']), String(replaced['id'])]));

    // The new instance runs with 128 tokens.
    await expect(
      openai.completions.create({ model: 'short', prompt: 'word '.repeat(200), max_tokens: 4 }),
    ).rejects.toMatchObject({
      status: 400,
      message: expect.stringContaining('maximum context length is 128'),
    });
    // The same settings again: nothing to roll.
    const again = await runCli(['redeploy', id, '--context', '128', ...connection, '--json']);
    expect(JSON.parse(again.stdout)).toMatchObject({ revision: 2 });
    expect((await runCli(['redeploy', id, ...connection])).code).toBe(2);
  }, 120_000);
});
