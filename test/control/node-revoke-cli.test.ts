import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { binPath } from '../helpers/edgefleet-process.js';
import { rows, startServer, type FleetServer } from '../fleet/fleet-processes.js';
import { registerBody } from './server-harness.js';

/** `edgefleet nodes revoke ID` (the built CLI) against a real `edgefleet server` process. */
function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [binPath, ...args],
      { env: { ...process.env, EDGEFLEET_SERVER: '', EDGEFLEET_API_KEY: '' }, timeout: 30_000 },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : -1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

describe('edgefleet nodes revoke', () => {
  let home: string;
  let server: FleetServer;
  let connection: string[];

  beforeAll(async () => {
    home = await mkdtemp(join(tmpdir(), 'ef-revoke-cli-'));
    server = await startServer(home, ['--reconcile-ms', '200']);
    connection = ['--server', server.url, '--home', home];
  });

  afterAll(async () => {
    await server?.stop();
    if (home) await rm(home, { recursive: true, force: true });
  });

  it('revokes a registered node; its credential stops working and it leaves the list', async () => {
    // The first start writes a join token into the server's home.
    const joinToken = (await readFile(join(home, 'join-token'), 'utf8')).trim();
    const registered = await fetch(`${server.url}/api/v1/worker/register`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(registerBody(joinToken, 'w-1', 'room')),
    });
    expect(registered.status).toBe(200);
    const { nodeId, credential } = (await registered.json()) as { nodeId: string; credential: string };

    const listed = await cli(['nodes', ...connection]);
    expect(listed.code, listed.stderr).toBe(0);
    expect(listed.stdout).toContain(nodeId);

    const usage = await cli(['nodes', 'revoke', ...connection]);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toMatch(/missing the node ID/);

    const revoked = await cli(['nodes', 'revoke', nodeId, ...connection, '--json']);
    expect(revoked.code, revoked.stderr).toBe(0);
    expect(JSON.parse(revoked.stdout)).toMatchObject({ id: nodeId, deleted: true });

    const beat = await fetch(`${server.url}/api/v1/worker/heartbeat`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${credential}` },
      body: JSON.stringify({ instances: [] }),
    });
    expect(beat.status).toBe(401);
    expect(rows((await server.api('GET', '/api/v1/nodes')).body)).toEqual([]);

    const again = await cli(['nodes', 'revoke', nodeId, ...connection]);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/server answered 404 not_found: no node/);
    const wrongKey = await cli([
      'nodes',
      'revoke',
      'x',
      '--server',
      server.url,
      '--api-key',
      'ef_admin_wrong',
    ]);
    expect(wrongKey.code).toBe(1);
    expect(wrongKey.stderr).toMatch(/401/);
  });
});
