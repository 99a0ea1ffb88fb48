import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import OpenAI from 'openai';
import { afterAll, describe, expect, it } from 'vitest';
import { waitFor } from '../helpers/edgefleet-process.js';
import { makeTestModel } from '../helpers/models.js';
import { rows, runCli, startCli, startServer, TestResources } from './fleet-processes.js';

/**
 * A deployment's own context: a model trained for 256 tokens cannot run with the server's default
 * context (4096), and says so with what to do; deployed with `--context 256` it runs, and its engine
 * holds prompts to that length.
 */
describe('deployments with their own context', () => {
  const resources = new TestResources();
  afterAll(async () => {
    await resources.cleanup();
  });

  it('keeps a model trained for less than the default pending with a hint, and runs it with --context', async () => {
    const model = await makeTestModel({ contextLength: 256 });
    const home = await resources.tempDir('ef-context-server-');
    const server = resources.track(await startServer(home, ['--reconcile-ms', '200']));
    const token = (await readFile(join(home, 'join-token'), 'utf8')).trim();
    const workerHome = await resources.tempDir('ef-context-worker-');
    resources.track(
      startCli([
        'worker',
        ...['--server', server.url, '--token', token, '--site', 'local', '--name', 'node-1'],
        ...['--home', workerHome, '--heartbeat-ms', '200', '--threads', '1', '--parallel', '1'],
      ]),
    );
    const connection = ['--server', server.url, '--home', home];

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
});
