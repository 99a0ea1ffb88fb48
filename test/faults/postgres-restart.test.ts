import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { metricValue, scrapeMetrics, waitFor } from '../helpers/edgefleet-process.js';
import { startChatLoad } from '../helpers/chat-load.js';
import { makeTestModel } from '../helpers/models.js';
import {
  privatePostgresUnavailable,
  startPrivatePostgres,
  type PrivatePostgres,
} from '../helpers/private-postgres.js';
import { rows, startCli, startServer, TestResources, waitForOutput } from '../fleet/fleet-processes.js';

/**
 * The control plane's PostgreSQL stopped and started again while chat requests flow, both through the
 * gateway inside the server (which routes from its last route table and cached keys while the store
 * fails) and through a room gateway (`edgefleet gateway`, from its synced cache): no request fails, the
 * server's /health reports the store problem and recovers, and afterwards the usage ledger holds exactly
 * one record per request sent. The database is a private PostgreSQL of this test (initdb + pg_ctl), never
 * the shared one, which other tests use meanwhile.
 */
const unavailable = privatePostgresUnavailable();
if (unavailable !== undefined) {
  console.warn(`skipping the PostgreSQL restart fault test: ${unavailable}`);
}
const loopsPerGateway = 2;

describe.skipIf(unavailable !== undefined)('PostgreSQL stopped and started under load', () => {
  let postgres: PrivatePostgres | undefined;
  const resources = new TestResources();
  const { processes } = resources;

  afterAll(async () => {
    await resources.cleanup(5000);
    await postgres?.remove();
  });

  const tempDir = (prefix: string) => resources.tempDir(prefix);

  it('keeps answering through both gateways, reports the store on /health and loses no usage record', async () => {
    const model = await makeTestModel({});
    postgres = await startPrivatePostgres();
    const database = await postgres.createDatabase('edgefleet');
    const server = await startServer(await tempDir('ef-pgrestart-server-'), [
      ...['--database', database, '--reconcile-ms', '200', '--context', '512'],
      // The worker backs off exponentially while its heartbeats fail (503); a node timeout well above
      // that backoff keeps the node from being declared down by the pass that runs when the store is back.
      ...['--node-timeout-ms', '30000'],
    ]);
    processes.push(server);
    const worker = startCli([
      'worker',
      ...['--server', server.url, '--site', 'north', '--name', 'node-north'],
      ...['--token', (await readFile(join(server.home, 'join-token'), 'utf8')).trim()],
      ...['--home', await tempDir('ef-pgrestart-worker-'), '--heartbeat-ms', '200'],
      // One slot: these tests are about the control plane and its store, not the engine's batching.
      ...['--threads', '1', '--parallel', '1'],
    ]);
    processes.push(worker);
    const deployment = await server.api('POST', '/api/v1/deployments', {
      name: 'tiny',
      model: model.path,
      replicas: 1,
    });
    expect(deployment.status, JSON.stringify(deployment.body)).toBe(201);
    await waitFor(
      async () =>
        rows((await server.api('GET', '/api/v1/instances')).body).some((i) => i['state'] === 'running')
          ? true
          : undefined,
      45_000,
      'a running instance',
    ).catch((error: unknown) => {
      throw new Error(`${String(error)}\n${server.output()}\n${worker.output()}`);
    });
    // One key per gateway, so that the ledger tells whose records are there.
    const keys: { secret: string; id: string }[] = [];
    for (const name of ['server-user', 'room-user']) {
      const created = await server.api('POST', '/api/v1/keys', { name });
      expect(created.status).toBe(201);
      const body = created.body as Record<string, string>;
      keys.push({ secret: body['key']!, id: body['id']! });
    }

    const gateway = startCli([
      'gateway',
      ...['--server', server.url, '--site', 'north', '--home', await tempDir('ef-pgrestart-room-')],
      ...['--port', '0', '--api-key', server.adminKey],
    ]);
    processes.push(gateway);
    const gatewayUrl = await waitForOutput(
      gateway,
      /gateway for site north listening on (http:\/\/\S+)/,
      'the room gateway',
    );
    const roomHealth = async () =>
      (await (await fetch(`${gatewayUrl}/health`)).json()) as {
        status: string;
        routes: { instances: number };
        keys: { count: number };
      };
    await waitFor(
      async () => {
        const h = await roomHealth();
        return h.routes.instances === 1 && h.keys.count >= 3 ? true : undefined;
      },
      15_000,
      'the room gateway to sync routes and keys',
    );
    const serverHealth = async () =>
      (await (await fetch(`${server.url}/health`)).json()) as {
        status: string;
        store?: { ok: boolean; error: string };
      };
    expect(await serverHealth()).toEqual({ status: 'ok' });
    const usage = async (keyId: string) => {
      const report = await server.api('GET', `/api/v1/usage?group_by=key&key=${keyId}`);
      if (report.status !== 200) return undefined;
      const data = rows(report.body);
      return {
        requests: data.reduce((n, r) => n + Number(r['requests']), 0),
        errors: data.reduce((n, r) => n + Number(r['errors']), 0),
      };
    };

    const inServer = startChatLoad(`${server.url}/v1`, keys[0]!.secret, model, loopsPerGateway);
    const inRoom = startChatLoad(`${gatewayUrl}/v1`, keys[1]!.secret, model, loopsPerGateway);
    const loads = [inServer, inRoom];
    const answered = () => loads.map((l) => l.answered());
    const diagnostics = () =>
      loads
        .map(
          (l, i) =>
            `\n${i === 0 ? 'server gateway' : 'room gateway'}: sent ${l.sent()}, answered ${l.answered()}, ` +
            `failures: ${l.failures().slice(0, 5).join(' | ')}`,
        )
        .join('') +
      `\nserver:\n${server.output().slice(-3000)}\nroom gateway:\n${gateway.output().slice(-1500)}` +
      `\nworker:\n${worker.output().slice(-1500)}`;
    const eachAnsweredMore = async (before: number[], more: number, what: string) =>
      waitFor(
        async () => (answered().every((n, i) => n >= before[i]! + more) ? true : undefined),
        30_000,
        what,
      ).catch((error: unknown) => {
        throw new Error(`${String(error)}${diagnostics()}`);
      });

    try {
      await eachAnsweredMore([0, 0], 20, 'answers before the database stops');

      await postgres.stop('fast');
      const stoppedAt = Date.now();
      const atStop = answered();
      const degraded = await waitFor(
        async () => {
          const h = await serverHealth();
          return h.status === 'degraded' ? h : undefined;
        },
        10_000,
        '/health to report the store',
      ).catch((error: unknown) => {
        throw new Error(`${String(error)}${diagnostics()}`);
      });
      const healthNoticedMs = Date.now() - stoppedAt;
      expect(degraded.store).toMatchObject({ ok: false, error: expect.stringMatching(/\S/) });
      // Long enough for the key cache (5 s) to expire, so that stale keys are what answers.
      await eachAnsweredMore(atStop, 30, 'answers while the database is down');
      await waitFor(
        async () => (Date.now() - stoppedAt >= 6000 ? true : undefined),
        10_000,
        'the key cache to expire',
      );
      await eachAnsweredMore(answered(), 10, 'answers on stale keys while the database is down');
      const whileDown = answered().map((n, i) => n - atStop[i]!);
      expect((await serverHealth()).status).toBe('degraded');

      await postgres.start();
      const startedAt = Date.now();
      const downMs = startedAt - stoppedAt;
      await waitFor(
        async () => ((await serverHealth()).status === 'ok' ? true : undefined),
        20_000,
        '/health to recover',
      ).catch((error: unknown) => {
        throw new Error(`${String(error)}${diagnostics()}`);
      });
      const healthRecoveredMs = Date.now() - startedAt;
      await waitFor(
        async () => ((await roomHealth()).status === 'ok' ? true : undefined),
        20_000,
        'the room gateway to reach the control plane again',
      ).catch((error: unknown) => {
        throw new Error(`${String(error)}${diagnostics()}`);
      });
      await eachAnsweredMore(answered(), 20, 'answers after the database is back');
      await Promise.all(loads.map((l) => l.stop()));
      const sent = loads.map((l) => l.sent());
      const total = sent[0]! + sent[1]!;
      expect(
        loads.map((l) => l.failures()),
        diagnostics(),
      ).toEqual([[], []]);
      expect(answered()).toEqual(sent);

      // Both journals ship: one record per request sent through either gateway…
      const ledgerCompleteMs = await Promise.all(
        keys.map(async (key, i) => {
          await waitFor(
            async () => ((await usage(key.id))?.requests === sent[i] ? true : undefined),
            45_000,
            `every usage record of the ${i === 0 ? "server's" : "room's"} gateway`,
          ).catch(async (error: unknown) => {
            throw new Error(
              `${String(error)}: ${JSON.stringify(await usage(key.id))} of ${sent[i]}${diagnostics()}`,
            );
          });
          return Date.now() - startedAt;
        }),
      );
      // …and no more while the shippers keep running.
      const steadyUntil = Date.now() + 2500;
      while (Date.now() < steadyUntil) {
        for (const [i, key] of keys.entries()) {
          expect(await usage(key.id)).toEqual({ requests: sent[i], errors: 0 });
        }
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
      for (const url of [server.url, gatewayUrl]) {
        const metrics = await scrapeMetrics(url, server.adminKey);
        expect(metricValue(metrics, 'edgefleet_gateway_usage_journal_errors_total') ?? 0).toBe(0);
      }
      // The instance was never replaced: the node stayed up through the outage.
      const instances = rows((await server.api('GET', '/api/v1/instances')).body);
      expect(instances.map((i) => [i['state'], i['restarts']])).toEqual([['running', 0]]);

      console.info(
        `postgres restart: ${total} requests sent (${sent[0]} through the server's gateway, ${sent[1]} through the room gateway), ` +
          `0 failed, ${whileDown[0]! + whileDown[1]!} answered while PostgreSQL was down, ${total} usage records stored; ` +
          `PostgreSQL down ${downMs} ms; /health degraded after ${healthNoticedMs} ms, ok ${healthRecoveredMs} ms after the start; ` +
          `ledger complete ${ledgerCompleteMs[0]} ms (server's gateway) and ${ledgerCompleteMs[1]} ms (room gateway) after the start`,
      );
    } finally {
      await Promise.all(loads.map((l) => l.stop()));
    }
  }, 90_000);
});
