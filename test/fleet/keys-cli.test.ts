import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, startServer, stopTree, type FleetServer } from './fleet-processes.js';

/** `edgefleet keys create|list|update|revoke` against a real `edgefleet server` process (built CLI). */
describe('edgefleet keys', () => {
  let home: string;
  let server: FleetServer;
  let connection: string[];

  beforeAll(async () => {
    home = await mkdtemp(join(tmpdir(), 'ef-keys-cli-'));
    server = await startServer(home, ['--reconcile-ms', '500']);
    connection = ['--server', server.url, '--home', home];
  });
  afterAll(async () => {
    if (server) await stopTree(server);
    if (home) await rm(home, { recursive: true, force: true });
  });

  const status = async (path: string, key: string) =>
    (await fetch(`${server.url}${path}`, { headers: { authorization: `Bearer ${key}` } })).status;

  it('creates a key with --json (the secret in "key"), lists it without secrets, and revokes it', async () => {
    const created = await runCli([
      'keys',
      'create',
      ...connection,
      '--name',
      'team-a',
      '--models',
      'chat-7b,embed',
      '--models',
      'r1',
      '--rpm',
      '60',
      '--tpm',
      '20000',
      '--token-budget',
      '1000000',
      '--region',
      'cn-east',
      '--json',
    ]);
    expect(created.code, created.stderr).toBe(0);
    // Nothing is deployed on this server: each allowed model is warned about on stderr, stdout stays JSON.
    expect(
      created.stderr.match(/^warning: no deployment or endpoint serves model "[^"]+" yet/gm),
    ).toHaveLength(3);
    expect(created.stderr).toContain('model "r1"');
    const key = JSON.parse(created.stdout) as Record<string, unknown>;
    const secret = key['key'] as string;
    expect(secret).toMatch(/^ef_key_/);
    expect(key).toMatchObject({
      name: 'team-a',
      role: 'inference',
      models: ['chat-7b', 'embed', 'r1'],
      rpm: 60,
      tpm: 20_000,
      tokenBudget: 1_000_000,
      region: 'cn-east',
    });

    // The key authenticates on /v1 but may not use the management API.
    expect(await status('/v1/models', secret)).toBe(200);
    expect(await status('/api/v1/keys', secret)).toBe(403);

    const listed = await runCli(['keys', 'list', ...connection]);
    expect(listed.code, listed.stderr).toBe(0);
    expect(listed.stdout).toMatch(
      /team-a\s+inference\s+chat-7b,embed,r1\s+60\s+20000\s+1000000\s+0\s+cn-east\s+active/,
    );
    expect(listed.stdout).toMatch(/admin\s+admin\s+all/);
    expect(listed.stdout).not.toContain(secret);
    const listedJson = await runCli(['keys', 'list', ...connection, '--json']);
    expect(listedJson.stdout).not.toContain(secret);
    expect(listedJson.stdout).not.toMatch(/keyHash|key_hash/);

    const revoked = await runCli(['keys', 'revoke', key['id'] as string, ...connection]);
    expect(revoked.code, revoked.stderr).toBe(0);
    expect(revoked.stdout).toBe(`revoked API key ${key['id'] as string}\n`);
    // Effective at once on the management API, and within the gateway's key cache time on /v1.
    expect(await status('/api/v1/keys', secret)).toBe(401);
    await expect.poll(() => status('/v1/models', secret), { timeout: 15_000, interval: 500 }).toBe(401);
    expect((await runCli(['keys', 'list', ...connection])).stdout).toMatch(/team-a.*revoked/);
  });

  it("updates a key's limits, models, region and name in place; its secret keeps working", async () => {
    const created = await runCli([
      'keys',
      'create',
      ...connection,
      '--name',
      'tenant',
      '--models',
      'chat-7b',
      '--rpm',
      '5',
      '--token-budget',
      '100',
      '--json',
    ]);
    expect(created.code, created.stderr).toBe(0);
    const { id, key: secret } = JSON.parse(created.stdout) as { id: string; key: string };

    const raised = await runCli([
      'keys',
      'update',
      id,
      ...connection,
      '--token-budget',
      '5000000',
      '--rpm',
      'none',
      '--tpm',
      '900',
      '--all-models',
      '--region',
      'north',
      '--json',
    ]);
    expect(raised.code, raised.stderr).toBe(0);
    expect(raised.stderr).toBe('');
    const view = JSON.parse(raised.stdout) as Record<string, unknown>;
    expect(view).toMatchObject({
      id,
      name: 'tenant',
      role: 'inference',
      models: null,
      rpm: null,
      tpm: 900,
      tokenBudget: 5_000_000,
      region: 'north',
      tokensUsed: 0,
      revokedAtMs: null,
    });
    expect(view).not.toHaveProperty('key');

    const renamed = await runCli([
      'keys',
      'update',
      id,
      ...connection,
      '--name',
      'tenant-b',
      '--models',
      'a,b',
      '--region',
      'none',
      '--token-budget',
      'none',
    ]);
    expect(renamed.code, renamed.stderr).toBe(0);
    expect(renamed.stdout).toMatch(/tenant-b\s+inference\s+a,b\s+-\s+900\s+-\s+0\s+-\s+active/);
    expect(
      renamed.stderr.match(/^warning: no deployment or endpoint serves model "[ab]" yet/gm),
    ).toHaveLength(2);
    // Same secret, still accepted.
    expect(await status('/v1/models', secret)).toBe(200);
    expect((await runCli(['keys', 'list', ...connection])).stdout).toMatch(/tenant-b\s+inference\s+a,b/);

    // A name an active key has, an unknown key and a revoked key are the server's refusals (exit 1).
    const taken = await runCli(['keys', 'update', id, ...connection, '--name', 'admin']);
    expect(taken.code).toBe(1);
    expect(taken.stderr).toMatch(/409 conflict: an API key named "admin" exists/);
    const missing = await runCli(['keys', 'update', 'no-such-key', ...connection, '--rpm', '1']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/404 not_found: no API key "no-such-key"/);
    expect((await runCli(['keys', 'revoke', id, ...connection])).code).toBe(0);
    const revoked = await runCli(['keys', 'update', id, ...connection, '--rpm', '1']);
    expect(revoked.code).toBe(1);
    expect(revoked.stderr).toMatch(/409 conflict: API key "tenant-b" is revoked/);
  });

  it('prints a table and the secret once without --json; an admin key created here works', async () => {
    const created = await runCli(['keys', 'create', ...connection, '--name', 'ops', '--role', 'admin']);
    expect(created.code, created.stderr).toBe(0);
    const secret = /^key: (\S+)$/m.exec(created.stdout)?.[1];
    expect(secret).toMatch(/^ef_admin_/);
    expect(created.stdout).toMatch(/ops\s+admin\s+all/);
    expect(created.stderr).toMatch(/shown only once/);
    const listed = await runCli(['keys', 'list', '--server', server.url, '--api-key', secret!]);
    expect(listed.code, listed.stderr).toBe(0);
    expect(listed.stdout).toContain('ops');
  });

  it('creates a metrics key that reads /metrics and nothing else', async () => {
    const created = await runCli([
      'keys',
      'create',
      ...connection,
      '--name',
      'prom',
      '--role',
      'metrics',
      '--json',
    ]);
    expect(created.code, created.stderr).toBe(0);
    const secret = (JSON.parse(created.stdout) as { key: string; role: string }).key;
    expect(JSON.parse(created.stdout)).toMatchObject({ role: 'metrics' });
    const scrape = await fetch(`${server.url}/metrics`, { headers: { authorization: `Bearer ${secret}` } });
    expect(scrape.status).toBe(200);
    expect(await scrape.text()).toContain('edgefleet_server_http_requests_total');
    expect(await status('/v1/models', secret)).toBe(403);
    const listed = await runCli(['keys', 'list', '--server', server.url, '--api-key', secret]);
    expect(listed.code).toBe(1);
    expect(listed.stderr).toMatch(/403 forbidden: .*role metrics.*role admin required/);
  });

  it('answers usage errors with exit 2 and server errors with exit 1', async () => {
    const usage: string[][] = [
      ['keys'],
      ['keys', 'rotate'],
      ['keys', 'create'],
      ['keys', 'create', '--name', 'x', '--rpm', 'lots'],
      ['keys', 'create', '--name', 'x', '--role', 'root'],
      ['keys', 'create', '--name', 'x', '--role', 'node'],
      ['keys', 'list', '--rpm', '5'],
      ['keys', 'revoke'],
      ['keys', 'create', '--name', 'x', '--nope'],
      ['keys', 'create', '--name', 'x', '--all-models'],
      ['keys', 'create', '--name', 'x', '--rpm', 'none'],
      ['keys', 'update'],
      ['keys', 'update', 'some-id'],
      ['keys', 'update', 'some-id', 'other-id', '--rpm', '5'],
      ['keys', 'update', 'some-id', '--rpm', 'lots'],
      ['keys', 'update', 'some-id', '--token-budget', '0'],
      ['keys', 'update', 'some-id', '--models', 'a', '--all-models'],
      ['keys', 'update', 'some-id', '--role', 'admin'],
      ['keys', 'update', 'some-id', '--name', ''],
      ['keys', 'revoke', 'some-id', '--all-models'],
    ];
    for (const args of usage) {
      const result = await runCli([...args, ...connection]);
      expect(result.code, args.join(' ')).toBe(2);
      expect(result.stderr, args.join(' ')).toMatch(/^edgefleet keys: /);
    }
    expect((await runCli(['keys', 'create', ...connection, '--name', 'x', '--rpm', '0'])).stderr).toMatch(
      /--rpm must be an integer/,
    );
    const missing = await runCli(['keys', 'revoke', 'no-such-key', ...connection]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/server answered 404 not_found: no API key "no-such-key"/);
    const badKey = await runCli(['keys', 'list', '--server', server.url, '--api-key', 'ef_key_wrong']);
    expect(badKey.code).toBe(1);
    expect(badKey.stderr).toMatch(/401/);
    const help = (await runCli(['keys', '--help'])).stdout;
    expect(help).toMatch(/edgefleet keys create --name NAME/);
    expect(help).toMatch(/edgefleet keys update ID \[--name NAME\] \[--models M1,M2 \| --all-models\]/);
    expect((await runCli(['keys', 'update', 'some-id', ...connection])).stderr).toMatch(
      /keys update needs something to change/,
    );
    expect((await runCli(['keys', 'update', 'some-id', ...connection, '--role', 'admin'])).stderr).toMatch(
      /--role is an option of "keys create"/,
    );
  });
});
