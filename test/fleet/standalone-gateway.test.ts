import { createServer } from 'node:net';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import OpenAI from 'openai';
import { afterAll, describe, expect, it } from 'vitest';
import { scrapeMetrics, waitFor } from '../helpers/edgefleet-process.js';
import { makeTestModel } from '../helpers/models.js';
import { rows, runCli, startCli, stopTree, TestResources, waitForOutput } from './fleet-processes.js';

/**
 * A per-room gateway (`edgefleet gateway`) beside a server and one worker, as separate processes on
 * 127.0.0.1: it serves with an inference key, keeps serving when the server is SIGKILLed, serves from
 * its disk cache after its own restart during the outage, and ships its journal when the server is
 * back: the usage ledger counts exactly the requests sent through it; a token budget holds through the
 * outage and the restart; a revoked key stops working.
 */
describe('edgefleet gateway (per room)', () => {
  const resources = new TestResources();
  const { processes } = resources;

  afterAll(async () => {
    await resources.cleanup(5000);
  });

  const tempDir = (prefix: string) => resources.tempDir(prefix);

  const freePort = () =>
    new Promise<number>((resolve, reject) => {
      const probe = createServer();
      probe.once('error', reject);
      probe.listen(0, '127.0.0.1', () => {
        const { port } = probe.address() as { port: number };
        probe.close(() => resolve(port));
      });
    });

  const start = async (args: string[], pattern: RegExp, what: string) => {
    const proc = startCli(args);
    processes.push(proc);
    const url = await waitForOutput(proc, pattern, what, 20_000);
    return { proc, url };
  };

  it('serves its room through a control-plane outage and ships every usage record once', async () => {
    const model = await makeTestModel({});
    const serverHome = await tempDir('ef-gw-server-');
    const serverPort = await freePort();
    const serverArgs = [
      'server',
      ...['--home', serverHome, '--port', String(serverPort)],
      ...['--reconcile-ms', '200', '--context', '512'],
    ];
    let server = await start(serverArgs, /listening on (http:\/\/\S+)/, 'the server');
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
    const workerHome = await tempDir('ef-gw-worker-');
    processes.push(
      startCli([
        'worker',
        ...['--server', server.url, '--token', token, '--site', 'north', '--region', 'cn-east'],
        ...['--name', 'node-north'],
        ...['--home', workerHome, '--heartbeat-ms', '200', '--threads', '1', '--parallel', '1'],
      ]),
    );
    expect(
      (await api('POST', '/api/v1/deployments', { name: 'tiny', model: model.path, replicas: 1 })).status,
    ).toBe(201);
    await waitFor(
      async () => {
        const running = rows((await api('GET', '/api/v1/instances')).body).filter(
          (i) => i['state'] === 'running',
        );
        return running.length === 1 ? true : undefined;
      },
      30_000,
      'a running instance',
    ).catch((error: unknown) => {
      throw new Error(`${String(error)}\n${processes.map((p) => p.output()).join('\n')}`);
    });
    const created = await api('POST', '/api/v1/keys', { name: 'room-user' });
    expect(created.status).toBe(201);
    const secret = created.body['key'] as string;
    const keyId = created.body['id'] as string;

    // The sync endpoints need the admin key; an inference key is refused.
    const asUser = await fetch(`${server.url}/api/v1/gateway/keys`, {
      headers: { authorization: `Bearer ${secret}` },
    });
    expect(asUser.status).toBe(403);
    const synced = await api('GET', '/api/v1/gateway/keys');
    expect(rows(synced.body).map((k) => k['keyId'])).toContain(keyId);
    expect(JSON.stringify(synced.body)).not.toContain(secret);

    const gatewayHome = await tempDir('ef-gw-room-');
    const gatewayArgs = [
      'gateway',
      // No --region: the gateway's is its site's, as the control plane knows it.
      ...['--server', server.url, '--site', 'north'],
      ...['--home', gatewayHome, '--port', '0', '--api-key', adminKey],
      ...['--cors-origins', 'https://chat.example'],
    ];
    const gatewayPattern = /gateway for site north listening on (http:\/\/\S+)/;
    let gateway = await start(gatewayArgs, gatewayPattern, 'the gateway');
    const health = async () =>
      (await (await fetch(`${gateway.url}/health`)).json()) as {
        status: string;
        siteKnown: boolean | null;
        region: string | null;
        controlPlane: { reachable: boolean };
        routes: { origin: string; ageMs: number | null; instances: number };
        keys: { count: number };
      };
    await waitFor(async () => ((await health()).routes.instances === 1 ? true : undefined), 10_000, 'routes');
    expect(await health()).toMatchObject({ siteKnown: true, region: 'cn-east' });
    // A --site the control plane does not know (a typo) is said once in the log and on /health.
    const typo = await start(
      ['gateway', '--server', server.url, '--site', 'nort', '--home', await tempDir('ef-gw-typo-')].concat([
        '--port',
        '0',
        '--api-key',
        adminKey,
      ]),
      /gateway for site nort listening on (http:\/\/\S+)/,
      'the gateway of an unknown site',
    );
    await waitFor(
      () => Promise.resolve(typo.proc.output().includes('the control plane knows no site') || undefined),
      5000,
      'the unknown-site warning',
    );
    expect(typo.proc.output()).toContain('known sites: north');
    expect(await (await fetch(`${typo.url}/health`)).json()).toMatchObject({
      siteKnown: false,
      region: null,
    });
    await stopTree(typo.proc, 5000);
    // A second gateway on the same home would share its usage journal and lose records: it is refused.
    const twin = await runCli(gatewayArgs);
    expect(twin.code, twin.stderr).toBe(1);
    expect(twin.stderr).toMatch(
      new RegExp(`usage journal \\S+ is in use by process ${gateway.proc.child.pid}\\b.*--home of its own`),
    );

    let sent = 0;
    /** One chat as `key` (the room user's by default); the tokens its answer reports. */
    const chat = async (key = secret) => {
      const client = new OpenAI({ baseURL: `${gateway.url}/v1`, apiKey: key, maxRetries: 0 });
      const { data, response } = await client.chat.completions
        .create({ model: 'tiny', messages: [{ role: 'user', content: 'hi there' }], temperature: 0 })
        .withResponse();
      if (key === secret) sent += 1;
      expect(data.choices[0]?.message.content).toBe(model.expectedText);
      expect(response.headers.get('x-edgefleet-site')).toBe('north');
      expect(response.headers.get('x-edgefleet-instance')).toMatch(/\S/);
      return data.usage!.total_tokens;
    };
    const chatStatus = (key: string) =>
      chat(key).then(
        () => 200,
        (error: unknown) => (error instanceof OpenAI.APIError ? (error.status ?? -1) : -1),
      );
    const usageCount = async () => {
      const report = await api('GET', `/api/v1/usage?group_by=key&key=${keyId}`);
      return rows(report.body).reduce((n, r) => n + Number(r['requests']), 0);
    };

    const perRequest = await chat();
    // --cors-origins: the listed web app's preflight is answered without a key, its answers carry CORS headers.
    const preflight = await fetch(`${gateway.url}/v1/chat/completions`, {
      method: 'OPTIONS',
      headers: {
        origin: 'https://chat.example',
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'authorization,content-type',
      },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get('access-control-allow-origin')).toBe('https://chat.example');
    const fromApp = await fetch(`${gateway.url}/v1/models`, {
      headers: { origin: 'https://chat.example', authorization: `Bearer ${secret}` },
    });
    expect(fromApp.status).toBe(200);
    expect(fromApp.headers.get('access-control-allow-origin')).toBe('https://chat.example');
    // A key whose budget allows two answers, known to the gateway (a lookup pulls it) before the outage.
    const budgeted = await api('POST', '/api/v1/keys', { name: 'budgeted', tokenBudget: perRequest + 1 });
    const budgetSecret = budgeted.body['key'] as string;
    const modelsAs = (key: string) =>
      fetch(`${gateway.url}/v1/models`, { headers: { authorization: `Bearer ${key}` } }).then(
        (r) => r.status,
      );
    expect(await modelsAs(budgetSecret)).toBe(200);
    expect((await fetch(`${gateway.url}/v1/models`)).status).toBe(401);
    const wrongKey = await fetch(`${gateway.url}/v1/models`, {
      headers: { authorization: 'Bearer ef_key_no' },
    });
    expect(wrongKey.status).toBe(401);
    await waitFor(async () => ((await usageCount()) === 1 ? true : undefined), 10_000, 'the live shipment');

    // The control plane dies: the room keeps serving from the routes and keys in memory.
    await server.proc.stop('SIGKILL');
    await waitFor(
      async () => ((await health()).controlPlane.reachable ? undefined : true),
      5000,
      'the gateway to notice',
    );
    for (let i = 0; i < 5; i++) await chat();
    // The budget holds while the ledger total stands still: two answers, then 429.
    expect([await chatStatus(budgetSecret), await chatStatus(budgetSecret)]).toEqual([200, 200]);
    expect(await chatStatus(budgetSecret)).toBe(429);
    const degraded = await health();
    expect(degraded).toMatchObject({ status: 'degraded', routes: { origin: 'control-plane', instances: 1 } });
    expect(degraded.routes.ageMs).toBeGreaterThan(0);
    const metrics = await scrapeMetrics(gateway.url, adminKey);
    expect(metrics).toMatch(/^edgefleet_gateway_control_plane_reachable 0$/m);
    expect(metrics).toMatch(/^edgefleet_gateway_route_table_age_seconds \d/m);
    expect(metrics).toMatch(/^edgefleet_gateway_process_cpu_user_seconds_total \d/m); // process metrics

    // Restarted during the outage, the gateway serves from its disk cache.
    expect(await gateway.proc.stop('SIGTERM')).toEqual({ code: 0, signal: null });
    expect((await stat(join(gatewayHome, 'gateway-cache', 'keys.json'))).mode & 0o777).toBe(0o600);
    gateway = await start(gatewayArgs, gatewayPattern, 'the restarted gateway');
    expect(await health()).toMatchObject({
      status: 'degraded',
      routes: { origin: 'disk-cache', instances: 1 },
      keys: { count: 3 },
    });
    // What it served before the restart is in its journal, not yet in the ledger: still spent.
    expect(await chatStatus(budgetSecret)).toBe(429);
    for (let i = 0; i < 3; i++) await chat();
    expect((await fetch(`${gateway.url}/v1/models`)).status).toBe(401);

    // The control plane is back on the same address: the journal ships, each request exactly once.
    server = await start(serverArgs, /listening on (http:\/\/\S+)/, 'the restarted server');
    await waitFor(
      async () => ((await usageCount()) === sent ? true : undefined),
      15_000,
      'the shipment',
    ).catch(async (error: unknown) => {
      throw new Error(`${String(error)}: ${await usageCount()} of ${sent}\n${gateway.proc.output()}`);
    });
    expect(sent).toBe(9);
    await waitFor(async () => ((await health()).status === 'ok' ? true : undefined), 5000, 'healthy');
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect(await usageCount()).toBe(sent);
    // Every record names the room whose gateway took it; those refused (the budget) no answering room.
    const byRoom = await api('GET', `/api/v1/usage?group_by=gateway,site&key=${String(budgeted.body['id'])}`);
    expect(rows(byRoom.body).map((r) => [r['gateway'], r['site'], r['requests']])).toEqual([
      ['north', 'north', 2],
      ['north', null, 2],
    ]);

    // A key revoked on the control plane stops working at the gateway's next key pull.
    const asKey = () =>
      fetch(`${gateway.url}/v1/models`, { headers: { authorization: `Bearer ${secret}` } }).then(
        (r) => r.status,
      );
    expect(await asKey()).toBe(200);
    expect((await api('DELETE', `/api/v1/keys/${keyId}`)).status).toBe(200);
    await expect.poll(asKey, { timeout: 8000, interval: 250 }).toBe(401);
  }, 90_000);
});
