import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { UsageEvent } from '../../src/spec/usage-event.js';
import { rows, runCli, startServer, stopTree, type FleetServer } from './fleet-processes.js';

/** `edgefleet endpoints add|list|rm` and `edgefleet usage` against a real `edgefleet server` (built CLI). */
describe('edgefleet endpoints and usage', () => {
  let home: string;
  let server: FleetServer;
  let connection: string[];

  beforeAll(async () => {
    home = await mkdtemp(join(tmpdir(), 'ef-usage-cli-'));
    server = await startServer(home, ['--reconcile-ms', '500']);
    connection = ['--server', server.url, '--home', home];
  });
  afterAll(async () => {
    if (server) await stopTree(server);
    if (home) await rm(home, { recursive: true, force: true });
  });

  it('adds an endpoint with an upstream key, lists it without the key and removes it', async () => {
    const added = await runCli([
      'endpoints',
      'add',
      ...connection,
      '--model',
      'team-r1',
      '--url',
      'http://10.20.30.40:8000/v1',
      '--site',
      'room-7',
      '--upstream-key',
      'sk-team-upstream',
      '--upstream-model',
      'deepseek-ai/DeepSeek-R1',
      '--json',
    ]);
    expect(added.code, added.stderr).toBe(0);
    const endpoint = JSON.parse(added.stdout) as Record<string, unknown>;
    expect(endpoint).toMatchObject({
      model: 'team-r1',
      url: 'http://10.20.30.40:8000',
      site: 'room-7',
      hasApiKey: true,
      upstreamModel: 'deepseek-ai/DeepSeek-R1',
    });
    const listed = await runCli(['endpoints', 'list', ...connection]);
    expect(listed.code, listed.stderr).toBe(0);
    expect(listed.stdout).toMatch(
      /team-r1 \(as deepseek-ai\/DeepSeek-R1\)\s+http:\/\/10\.20\.30\.40:8000\s+room-7\s+set\s+(unknown|unhealthy)/,
    );
    const listedJson = await runCli(['endpoints', 'list', ...connection, '--json']);
    for (const out of [added.stdout, listed.stdout, listedJson.stdout])
      expect(out).not.toContain('sk-team-upstream');
    // The name is served (no healthy endpoint yet) and listed in /v1/models.
    const models = await fetch(`${server.url}/v1/models`, {
      headers: { authorization: `Bearer ${server.adminKey}` },
    });
    expect(((await models.json()) as { data: { id: string }[] }).data.map((m) => m.id)).toContain('team-r1');

    // A rotated upstream key and no upstream model, in place: the same id.
    const updated = await runCli([
      ...['endpoints', 'update', endpoint['id'] as string, ...connection],
      ...['--upstream-key', 'sk-rotated', '--upstream-model', 'none', '--json'],
    ]);
    expect(updated.code, updated.stderr).toBe(0);
    expect(JSON.parse(updated.stdout)).toMatchObject({
      id: endpoint['id'],
      hasApiKey: true,
      upstreamModel: null,
    });
    expect(updated.stdout).not.toContain('sk-rotated');
    const nothing = await runCli(['endpoints', 'update', endpoint['id'] as string, ...connection]);
    expect(nothing.code).toBe(2);
    expect(nothing.stderr).toMatch(/needs --upstream-key or --upstream-model/);
    const misplaced = await runCli(['endpoints', 'update', 'x', '--site', 'room-8', ...connection]);
    expect(misplaced.code).toBe(2);
    expect(misplaced.stderr).toMatch(/--site is an option of "endpoints add"/);

    const removed = await runCli(['endpoints', 'rm', endpoint['id'] as string, ...connection]);
    expect(removed.code, removed.stderr).toBe(0);
    expect(removed.stdout).toBe(`removed endpoint ${endpoint['id'] as string}\n`);
    expect(rows((await server.api('GET', '/api/v1/endpoints')).body)).toEqual([]);
    const again = await runCli(['endpoints', 'rm', endpoint['id'] as string, ...connection]);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/server answered 404 not_found/);
  });

  it('answers endpoint usage errors with exit 2 and refused URLs with exit 1', async () => {
    for (const args of [
      ['endpoints'],
      ['endpoints', 'add', '--model', 'm', '--site', 's'],
      ['endpoints', 'list', '--model', 'm'],
      ['endpoints', 'rm'],
      ['endpoints', 'restart'],
    ]) {
      const result = await runCli([...args, ...connection]);
      expect(result.code, args.join(' ')).toBe(2);
      expect(result.stderr).toMatch(/^edgefleet endpoints: /);
    }
    const emptySite = await runCli([
      ...['endpoints', 'add', '--model', 'm', '--url', 'http://127.0.0.1:9', '--site', ' '],
      ...connection,
    ]);
    expect(emptySite.code).toBe(2);
    expect(emptySite.stderr).toMatch(/^edgefleet endpoints: --site must not be empty\n/);
    const credentials = await runCli([
      'endpoints',
      'add',
      ...connection,
      '--model',
      'm',
      '--site',
      's',
      '--url',
      'http://user:secret@10.0.0.1:8000',
    ]);
    expect(credentials.code).toBe(1);
    expect(credentials.stderr).toMatch(/server answered 400 invalid_request: url: credentials in the URL/);
  });

  it('prints usage grouped by key and model, per site and per hour, and as JSON', async () => {
    const now = Date.now();
    const hourStart = now - (now % 3_600_000);
    const event = (id: string, fields: Partial<UsageEvent>): UsageEvent => ({
      id,
      atMs: hourStart + 1,
      keyId: 'key-cli',
      model: 'r1-7b',
      siteName: 'room-7',
      instanceId: null,
      route: 'chat.completions',
      promptTokens: 11,
      completionTokens: 22,
      ttftMs: 40,
      durationMs: 300,
      status: 200,
      outcome: 'ok',
      usageEstimated: false,
      ...fields,
    });
    const events = [
      event('u1', {}),
      event('u2', { status: 502, outcome: 'error', ttftMs: null, durationMs: 100 }),
      event('u3', {
        model: 'qwen',
        siteName: 'room-8',
        atMs: hourStart - 3_600_000 + 5,
        gatewaySite: 'room-7',
      }),
      event('u4', { atMs: now - 3 * 86_400_000 }),
    ];
    const posted = await server.api('POST', '/api/v1/usage/events', { events });
    expect(posted).toEqual({ status: 200, body: { object: 'usage_events', received: 4, stored: 4 } });

    const table = await runCli(['usage', ...connection]);
    expect(table.code, table.stderr).toBe(0);
    expect(table.stdout).toMatch(
      /KEY ID\s+KEY\s+MODEL\s+REQUESTS\s+ERRORS\s+PROMPT\s+COMPLETION\s+TTFT MS\s+DURATION MS/,
    );
    // No key of that id is stored: its name is blank ('-').
    expect(table.stdout).toMatch(/key-cli\s+-\s+qwen\s+1\s+0\s+11\s+22\s+40\s+300/);
    expect(table.stdout).toMatch(/key-cli\s+-\s+r1-7b\s+2\s+1\s+22\s+44\s+40\s+200/);

    const perSite = await runCli([
      'usage',
      ...connection,
      '--group-by',
      'site',
      '--bucket',
      'hour',
      '--since',
      '2h',
    ]);
    expect(perSite.code, perSite.stderr).toBe(0);
    expect(perSite.stdout).toContain(`${new Date(hourStart).toISOString()}  room-7`);
    expect(perSite.stdout).toContain(`${new Date(hourStart - 3_600_000).toISOString()}  room-8`);

    // Taken by room-7's gateway, answered in room-8 (the others came through the server's own gateway).
    const spilled = await runCli([
      'usage',
      ...connection,
      '--group-by',
      'gateway,site',
      '--gateway',
      'room-7',
    ]);
    expect(spilled.code, spilled.stderr).toBe(0);
    expect(spilled.stdout).toMatch(/^GATEWAY\s+SITE\s+REQUESTS/m);
    const spilledRows = spilled.stdout.split('\n').filter((line) => line.startsWith('room-'));
    expect(spilledRows).toEqual([expect.stringMatching(/^room-7\s+room-8\s+1\s/)]);

    const week = await runCli(['usage', ...connection, '--since', '7d', '--model', 'r1-7b', '--json']);
    const body = JSON.parse(week.stdout) as { data: Record<string, unknown>[] };
    expect(body.data).toEqual([expect.objectContaining({ key_id: 'key-cli', model: 'r1-7b', requests: 3 })]);

    for (const args of [
      ['usage', '--group-by', 'region'],
      ['usage', '--bucket', 'week'],
      ['usage', '--since', 'a while'],
      ['usage', '--since', '90'], // minutes? an age needs its unit
      ['usage', '--until', '1/2/2026'],
      ['usage', '--since', '2099-01-01T00:00Z'], // after now: an empty range
      ['usage', 'extra'],
    ]) {
      const result = await runCli([...args, ...connection]);
      expect(result.code, args.join(' ')).toBe(2);
      expect(result.stderr).toMatch(/^edgefleet usage: /);
    }
  });
});
