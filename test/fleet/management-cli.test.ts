import { execFile } from 'node:child_process';
import { createServer } from 'node:net';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultDeploymentName } from '../../src/cli/deploy.js';
import { binPath, waitFor } from '../helpers/edgefleet-process.js';
import { makeTestModel } from '../helpers/models.js';
import { startServer, type FleetServer } from './fleet-processes.js';

interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the built CLI (`node bin/edgefleet.js ARGS`) as a child process and collects its output. */
function cli(args: string[], env: Record<string, string> = {}, cwd?: string): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [binPath, ...args],
      {
        env: { ...process.env, EDGEFLEET_SERVER: '', EDGEFLEET_API_KEY: '', ...env },
        timeout: 30_000,
        ...(cwd !== undefined && { cwd }),
      },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : -1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

/** A port nothing listens on: bound once, then closed. */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

const listData = (stdout: string): Record<string, unknown>[] =>
  (JSON.parse(stdout) as { object: string; data: Record<string, unknown>[] }).data;

/**
 * The management CLI (nodes, deploy, deployments, instances, undeploy) against a real `edgefleet server`
 * process: JSON and table output, server errors (401, 404, 409, 400) as one line with exit 1, usage
 * errors with exit 2, and an unreachable server with a clear message.
 */
describe('edgefleet nodes / deploy / deployments / instances / undeploy', () => {
  let home: string;
  let server: FleetServer;
  let connection: string[];

  beforeAll(async () => {
    home = await mkdtemp(join(tmpdir(), 'ef-mgmt-cli-'));
    server = await startServer(home, ['--reconcile-ms', '200', '--context', '512']);
    connection = ['--server', server.url, '--home', home];
  });

  afterAll(async () => {
    await server?.stop();
    if (home) await rm(home, { recursive: true, force: true });
  });

  it('derives a default deployment name from MODEL', () => {
    expect(defaultDeploymentName('deepseek-r1-distill-qwen-7b')).toBe('deepseek-r1-distill-qwen-7b');
    expect(defaultDeploymentName('/models/Qwen2.5-7B-Q4_K_M.gguf')).toBe('Qwen2.5-7B-Q4_K_M');
    expect(defaultDeploymentName('hf:bartowski/Llama-3-GGUF/llama-3-q4.gguf')).toBe('llama-3-q4');
    expect(defaultDeploymentName('https://example.com/m/tiny model.gguf?download=1')).toBe('tiny-model');
  });

  it('lists no nodes, deploys a GGUF, shows it and its instance, and undeploys it', async () => {
    const nodes = await cli(['nodes', ...connection, '--json']);
    expect(nodes.code, nodes.stderr).toBe(0);
    expect(listData(nodes.stdout)).toEqual([]);
    expect((await cli(['nodes', ...connection])).stdout).toMatch(/no nodes registered/);

    const model = await makeTestModel({});
    const deployed = await cli([
      'deploy',
      model.path,
      '--name',
      'tiny',
      '--replicas',
      '1',
      ...connection,
      '--json',
    ]);
    expect(deployed.code, deployed.stderr).toBe(0);
    const deployment = JSON.parse(deployed.stdout) as { id: string; name: string; modelRef: string };
    expect(deployment).toMatchObject({ name: 'tiny', modelRef: model.path });

    const listed = await cli(['deployments', ...connection, '--json']);
    expect(listed.code, listed.stderr).toBe(0);
    expect(listData(listed.stdout).map((d) => d.id)).toEqual([deployment.id]);
    const table = await cli(['deployments', ...connection]);
    expect(table.stdout).toMatch(/^ID\s+NAME\s+MODEL/);
    expect(table.stdout).toContain('tiny');

    // Same name again → the server's 409 as one line, exit 1. The file named relative to the current
    // directory, as `./tiny.gguf`, is sent as its absolute path (the server refuses relative ones).
    const conflict = await cli(
      ['deploy', `./${basename(model.path)}`, '--name', 'tiny', ...connection],
      {},
      dirname(model.path),
    );
    expect(conflict.code).toBe(1);
    expect(conflict.stderr.trim().split('\n')).toHaveLength(1);
    expect(conflict.stderr).toMatch(/409 conflict/);

    // A node (registered over the worker protocol) gets the replica as a scheduled instance.
    const joinToken = (await readFile(join(home, 'join-token'), 'utf8')).trim();
    const registered = await fetch(`${server.url}/api/v1/worker/register`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        joinToken,
        name: 'node-a',
        site: 'north',
        address: '127.0.0.1',
        devices: [],
        cpu: { cores: 4, memoryBytes: 16 * 2 ** 30 },
      }),
    });
    expect(registered.status).toBe(200);
    const nodesAfter = listData((await cli(['nodes', ...connection, '--json'])).stdout);
    expect(nodesAfter.map((n) => n.name)).toEqual(['node-a']);
    // Tables name sites by name (the API by id).
    expect((await cli(['nodes', ...connection])).stdout).toMatch(/\bnode-a +north +up\b/);
    const placed = await cli([
      'deploy',
      'deepseek-r1-distill-qwen-7b',
      '--name',
      'north-only',
      '--site',
      'north',
      ...connection,
    ]);
    expect(placed.code, placed.stderr).toBe(0);
    expect(placed.stdout).toMatch(/\bnorth-only\b.* north +1 +pending\b/);
    expect((await cli(['deployments', ...connection])).stdout).toMatch(
      /\bnorth-only\b.* north +1 +pending\b/,
    );
    const northOnly = listData((await cli(['deployments', ...connection, '--json'])).stdout).find(
      (d) => d.name === 'north-only',
    )!;
    expect((await cli(['undeploy', String(northOnly.id), ...connection])).code).toBe(0);

    const instances = await waitFor(
      async () => {
        const result = await cli(['instances', '--deployment', deployment.id, ...connection, '--json']);
        expect(result.code, result.stderr).toBe(0);
        const data = listData(result.stdout);
        return data.length > 0 ? data : undefined;
      },
      15_000,
      'an instance of the deployment',
    );
    expect(instances).toHaveLength(1);
    expect(instances[0]).toMatchObject({ deploymentId: deployment.id });
    expect(['pending', 'scheduled', 'downloading', 'starting']).toContain(instances[0]!.state);
    // The table: the deployment, then the revision the instance was placed for.
    expect((await cli(['instances', ...connection])).stdout).toMatch(new RegExp(`${deployment.id} +1 `));

    const undeployed = await cli(['undeploy', deployment.id, ...connection]);
    expect(undeployed.code, undeployed.stderr).toBe(0);
    expect(undeployed.stdout).toContain(deployment.id);
    expect(listData((await cli(['deployments', ...connection, '--json'])).stdout)).toEqual([]);
    expect(listData((await cli(['instances', ...connection, '--json'])).stdout)).toEqual([]);

    const again = await cli(['undeploy', deployment.id, ...connection]);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/404 not_found/);
  });

  it('finds the server of --home without --server: the URL it wrote to <home>/server-url', async () => {
    expect((await readFile(join(home, 'server-url'), 'utf8')).trim()).toBe(server.url);
    const listed = await cli(['deployments', '--home', home, '--json']);
    expect(listed.code, listed.stderr).toBe(0);
    expect(JSON.parse(listed.stdout)).toMatchObject({ object: 'list' });
  });

  it('reads the server and key from the environment', async () => {
    const result = await cli(['deployments', '--json'], {
      EDGEFLEET_SERVER: server.url,
      EDGEFLEET_API_KEY: server.adminKey,
    });
    expect(result.code, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({ object: 'list' });
  });

  it('maps server errors to one line with exit 1', async () => {
    const unauthorized = await cli(['nodes', '--server', server.url, '--api-key', 'ef_admin_wrong']);
    expect(unauthorized.code).toBe(1);
    expect(unauthorized.stderr).toMatch(/^edgefleet nodes: server answered 401 unauthorized: .+\n$/);

    const unknown = await cli(['deploy', 'no-such-model', ...connection]);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/400 invalid_request: unknown model/);
  });

  it('exits 2 on usage errors', async () => {
    const unknownFlag = await cli(['nodes', '--bogus', ...connection]);
    expect(unknownFlag.code).toBe(2);
    expect(unknownFlag.stderr).toMatch(/Unknown option '--bogus'/);
    expect(unknownFlag.stderr).toContain('usage: edgefleet nodes');

    expect((await cli(['deploy', ...connection])).code).toBe(2);
    // In the flags' words, not the request schema's.
    for (const [args, said] of [
      [['--replicas', '0'], '--replicas must be an integer from 1 to 64, got "0"'],
      [['--replicas', '100000'], '--replicas must be an integer from 1 to 64, got "100000"'],
      [['--site', 'north', '--site', ' '], '--site must name a site, got ""'],
      [['--name', 'has space'], '--name: letters, digits and . _ : / - only'],
      [['--replicas', '2', '--min-replicas', '3'], '--min-replicas: minReplicas must not exceed replicas'],
    ] as const) {
      const refused = await cli(['deploy', 'x', ...args, ...connection]);
      expect(refused.code, args.join(' ')).toBe(2);
      expect(refused.stderr).toContain(`edgefleet deploy: ${said}\n`);
    }
    expect((await cli(['undeploy', ...connection])).code).toBe(2);
    expect((await cli(['deployments', '--server', server.url])).code).toBe(2); // no key anywhere
    expect((await cli(['deployments', '--server', 'ftp://x', '--api-key', 'k'])).code).toBe(2);

    const help = await cli(['deploy', '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('usage: edgefleet deploy MODEL');
  });

  it('says clearly when the server is not reachable', async () => {
    const url = `http://127.0.0.1:${await freePort()}`;
    const result = await cli(['deployments', '--server', url, '--api-key', 'k']);
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(
      `edgefleet deployments: cannot reach the EdgeFleet server at ${url} (ECONNREFUSED)\n`,
    );
    // fetch() will not connect to some well-known ports at all; say so rather than a bare "bad port".
    const blocked = await cli(['deployments', '--server', 'http://127.0.0.1:6000', '--api-key', 'k']);
    expect(blocked.code).toBe(1);
    expect(blocked.stderr).toMatch(/\(bad port: fetch refuses port 6000, .* run the server on another\)\n$/);
    // The API's path is not part of --server.
    const withPath = await cli(['nodes', '--server', `${url}/api/v1`, '--api-key', 'k']);
    expect(withPath.code).toBe(2);
    expect(withPath.stderr).toMatch(
      new RegExp(`^edgefleet nodes: --server is the server's address without /api/v1: --server ${url}\\n`),
    );
  });
});
