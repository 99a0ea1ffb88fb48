import { copyFile, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { metricValue, scrapeMetrics, waitFor } from '../helpers/edgefleet-process.js';
import { makeTestModel } from '../helpers/models.js';
import { PostgresTestDatabases } from '../store/postgres-test-databases.js';
import { rows, startCli, startServer, type FleetProcess, type FleetServer } from './fleet-processes.js';

/**
 * Two `edgefleet server` processes on one PostgreSQL database serve the same state; only one runs the
 * scheduler (advisory lock). SIGKILL the one that does: the other takes over and places new work.
 */
describe('two control planes on one PostgreSQL', () => {
  const databases = new PostgresTestDatabases();
  const processes: FleetProcess[] = [];
  const dirs: string[] = [];

  beforeAll(async () => {
    await databases.connect();
  });

  afterAll(async () => {
    await Promise.all(processes.map((p) => p.stop('SIGKILL')));
    await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
    await databases.dropAll();
  });

  const tempDir = async (prefix: string) => {
    const dir = await mkdtemp(join(tmpdir(), prefix));
    dirs.push(dir);
    return dir;
  };

  const leaderPasses = async (server: FleetServer) =>
    metricValue(
      await scrapeMetrics(server.url, server.adminKey),
      'edgefleet_server_reconcile_passes_total{outcome="leader"}',
    ) ?? 0;

  it('hands the scheduler to the standby when the leader dies', async () => {
    const database = await databases.fresh();
    const flags = [
      '--database',
      database,
      '--reconcile-ms',
      '200',
      '--node-timeout-ms',
      '3000',
      '--context',
      '512',
    ];
    const homeA = await tempDir('ef-pg-a-');
    const a = await startServer(homeA, flags);
    processes.push(a);
    // The second server shares the database and so the first one's credentials: it creates none.
    const homeB = await tempDir('ef-pg-b-');
    await copyFile(join(homeA, 'admin-key'), join(homeB, 'admin-key'));
    const b = await startServer(homeB, flags);
    processes.push(b);
    expect(b.output()).not.toMatch(/First start/);
    const adminKey = (await readFile(join(homeA, 'admin-key'), 'utf8')).trim();
    const asAdmin = { authorization: `Bearer ${adminKey}` };
    expect((await fetch(`${b.url}/api/v1/nodes`, { headers: asAdmin })).status).toBe(200);

    await waitFor(
      async () => ((await leaderPasses(a)) + (await leaderPasses(b)) > 3 ? true : undefined),
      10_000,
      'reconcile passes',
    );
    const [leader, standby] = (await leaderPasses(a)) > 0 ? [a, b] : [b, a];
    expect(await leaderPasses(standby)).toBe(0);

    const worker = startCli([
      'worker',
      ...['--server', standby.url, '--token', (await readFile(join(homeA, 'join-token'), 'utf8')).trim()],
      ...['--site', 'pg', '--name', 'pg-1', '--home', await tempDir('ef-pg-w-')],
      ...['--heartbeat-ms', '300', '--threads', '1', '--parallel', '1'],
    ]);
    processes.push(worker);
    await waitFor(
      async () => {
        const response = await fetch(`${standby.url}/api/v1/nodes`, { headers: asAdmin });
        return rows(await response.json()).length === 1 ? true : undefined;
      },
      15_000,
      'the worker to register',
    );

    await leader.stop('SIGKILL');
    const model = await makeTestModel({});
    const created = await fetch(`${standby.url}/api/v1/deployments`, {
      method: 'POST',
      headers: { ...asAdmin, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'pg-tiny', model: model.path, replicas: 1 }),
    });
    expect(created.status).toBe(201);
    await waitFor(
      async () => ((await leaderPasses(standby)) > 0 ? true : undefined),
      15_000,
      'the standby to lead',
    );
    const running = await waitFor(
      async () => {
        const response = await fetch(`${standby.url}/api/v1/instances`, { headers: asAdmin });
        const list = rows(await response.json()).filter((i) => i['state'] === 'running');
        return list.length === 1 ? list : undefined;
      },
      30_000,
      'the new deployment to run',
    );
    expect(running[0]?.['port']).toBeGreaterThan(0);
    const client = new OpenAI({ baseURL: `${standby.url}/v1`, apiKey: adminKey, maxRetries: 0 });
    const reply = await client.chat.completions.create({
      model: 'pg-tiny',
      messages: [{ role: 'user', content: 'hi there' }],
      temperature: 0,
    });
    expect(reply.choices[0]?.message.content).toBe(model.expectedText);
  }, 90_000);
});
