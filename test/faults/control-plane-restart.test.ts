import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { metricValue, scrapeMetrics, waitFor } from '../helpers/edgefleet-process.js';
import { makeTestModel } from '../helpers/models.js';
import { startChatLoad } from '../helpers/chat-load.js';
import { freePort } from '../helpers/http-servers.js';
import { PostgresTestDatabases } from '../store/postgres-test-databases.js';
import { rows, startCli, TestResources, waitForOutput } from '../fleet/fleet-processes.js';

/**
 * The control plane SIGKILLed and restarted (same home, same database, same port) while four loops send
 * chat requests with the openai client through a room gateway (`edgefleet gateway`), on SQLite and on
 * PostgreSQL: the room gateway answers every request while the server is down (from its cached routes
 * and keys), reconnects when it is back, and ships its journal: the usage ledger then holds exactly one
 * record per request sent, none lost and none counted twice.
 */
const loops = 4;

describe('control plane SIGKILLed and restarted under load through a room gateway', () => {
  const databases = new PostgresTestDatabases();
  let databasesConnected = false;
  const resources = new TestResources();
  const { processes } = resources;

  afterAll(async () => {
    await resources.cleanup(5000);
    if (databasesConnected) await databases.dropAll();
  });

  const tempDir = (prefix: string) => resources.tempDir(prefix);

  const start = async (args: string[], pattern: RegExp, what: string) => {
    const proc = startCli(args);
    processes.push(proc);
    const url = await waitForOutput(proc, pattern, what);
    return { proc, url };
  };

  async function killAndRestart(label: string, database: string[]): Promise<void> {
    const model = await makeTestModel({});
    const serverHome = await tempDir('ef-cprestart-server-');
    const serverPort = await freePort();
    const serverArgs = [
      'server',
      ...['--home', serverHome, '--port', String(serverPort), ...database],
      ...['--reconcile-ms', '200', '--context', '512'],
    ];
    const listening = /listening on (http:\/\/\S+)/;
    let server = await start(serverArgs, listening, 'the server');
    const adminKey = (await readFile(join(serverHome, 'admin-key'), 'utf8')).trim();
    const api = async (method: string, path: string, body?: unknown) => {
      const response = await fetch(`${server.url}${path}`, {
        method,
        headers: { authorization: `Bearer ${adminKey}`, 'content-type': 'application/json' },
        ...(body !== undefined && { body: JSON.stringify(body) }),
      });
      return { status: response.status, body: (await response.json()) as Record<string, unknown> };
    };

    const token = (await readFile(join(serverHome, 'join-token'), 'utf8')).trim();
    const worker = startCli([
      'worker',
      ...['--server', server.url, '--token', token, '--site', 'north', '--name', 'node-north'],
      ...['--home', await tempDir('ef-cprestart-worker-'), '--heartbeat-ms', '200'],
      // One slot: these tests are about the control plane and its store, not the engine's batching.
      ...['--threads', '1', '--parallel', '1'],
    ]);
    processes.push(worker);
    const deployment = await api('POST', '/api/v1/deployments', {
      name: 'tiny',
      model: model.path,
      replicas: 1,
    });
    expect(deployment.status, JSON.stringify(deployment.body)).toBe(201);
    await waitFor(
      async () =>
        rows((await api('GET', '/api/v1/instances')).body).some((i) => i['state'] === 'running')
          ? true
          : undefined,
      45_000,
      'a running instance',
    ).catch((error: unknown) => {
      throw new Error(`${String(error)}\n${server.proc.output()}\n${worker.output()}`);
    });
    const created = await api('POST', '/api/v1/keys', { name: `room-user-${label}` });
    expect(created.status).toBe(201);
    const secret = created.body['key'] as string;
    const keyId = created.body['id'] as string;

    const gatewayArgs = [
      'gateway',
      ...['--server', server.url, '--site', 'north', '--region', 'cn-east'],
      ...['--home', await tempDir('ef-cprestart-room-'), '--port', '0', '--api-key', adminKey],
    ];
    const gateway = await start(
      gatewayArgs,
      /gateway for site north listening on (http:\/\/\S+)/,
      'the room gateway',
    );
    const health = async () =>
      (await (await fetch(`${gateway.url}/health`)).json()) as {
        status: string;
        controlPlane: { reachable: boolean };
        routes: { instances: number };
        keys: { count: number };
      };
    // Routes with the instance, and the key list with the new key (admin + inference key).
    await waitFor(
      async () => {
        const h = await health();
        return h.routes.instances === 1 && h.keys.count >= 2 ? true : undefined;
      },
      15_000,
      'the room gateway to sync routes and keys',
    );
    const usage = async () => {
      const report = await api('GET', `/api/v1/usage?group_by=key&key=${keyId}`);
      if (report.status !== 200) return undefined;
      const data = rows(report.body);
      return {
        requests: data.reduce((n, r) => n + Number(r['requests']), 0),
        errors: data.reduce((n, r) => n + Number(r['errors']), 0),
      };
    };

    const load = startChatLoad(`${gateway.url}/v1`, secret, model, loops);
    const diagnostics = () =>
      `\nsent ${load.sent()}, answered ${load.answered()}, failures: ${load.failures().slice(0, 5).join(' | ')}` +
      `\ngateway:\n${gateway.proc.output().slice(-3000)}\nserver:\n${server.proc.output().slice(-2000)}`;
    try {
      await waitFor(
        async () => (load.answered() >= 20 ? true : undefined),
        30_000,
        'answers before the kill',
      );

      // The control plane dies mid-stream.
      await server.proc.stop('SIGKILL');
      const killedAt = Date.now();
      const answeredAtKill = load.answered();
      await waitFor(
        async () => ((await health()).controlPlane.reachable ? undefined : true),
        10_000,
        'the room gateway to notice',
      );
      // The room keeps being served while the server is down.
      await waitFor(
        async () => (load.answered() >= answeredAtKill + 40 ? true : undefined),
        30_000,
        'answers while the server is down',
      );
      const answeredWhileDown = load.answered() - answeredAtKill;

      // Restarted: same home, same database, same port.
      server = await start(serverArgs, listening, 'the restarted server');
      const restartedAt = Date.now();
      const downMs = restartedAt - killedAt;
      await waitFor(
        async () => ((await health()).status === 'ok' ? true : undefined),
        20_000,
        'the room gateway to reconnect',
      );
      const reconnectMs = Date.now() - restartedAt;
      const answeredAtReconnect = load.answered();
      await waitFor(
        async () => (load.answered() >= answeredAtReconnect + 20 ? true : undefined),
        30_000,
        'answers after the restart',
      );
      await load.stop();
      const sent = load.sent();
      expect(load.failures(), diagnostics()).toEqual([]);
      expect(load.answered()).toBe(sent);

      // Every request has one record: the count reaches `sent` and stays there (nothing shipped twice).
      await waitFor(
        async () => ((await usage())?.requests === sent ? true : undefined),
        30_000,
        'every usage record',
      ).catch(async (error: unknown) => {
        throw new Error(`${String(error)}: ${JSON.stringify(await usage())} of ${sent}${diagnostics()}`);
      });
      const shippedMs = Date.now() - restartedAt;
      // …and stays there while the journal's next shipments run (they must add nothing).
      const steadyUntil = Date.now() + 2500;
      while (Date.now() < steadyUntil) {
        expect(await usage()).toEqual({ requests: sent, errors: 0 });
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
      const metrics = await scrapeMetrics(gateway.url, adminKey);
      expect(metricValue(metrics, 'edgefleet_gateway_usage_journal_errors_total') ?? 0).toBe(0);

      console.info(
        `control plane kill (${label}): ${sent} requests sent through the room gateway, ${load.failures().length} failed, ` +
          `${answeredWhileDown} answered while the server was down, ${sent} usage records stored; ` +
          `server down ${downMs} ms; gateway reconnected ${reconnectMs} ms and ledger complete ${shippedMs} ms after the restart`,
      );
    } finally {
      await load.stop();
    }
  }

  it('SQLite (--home): the room keeps answering and every request is recorded once', async () => {
    await killAndRestart('sqlite', []);
  }, 90_000);

  it('PostgreSQL (--database): the room keeps answering and every request is recorded once', async () => {
    await databases.connect();
    databasesConnected = true;
    await killAndRestart('postgres', ['--database', await databases.fresh()]);
  }, 90_000);
});
