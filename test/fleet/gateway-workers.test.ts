import http from 'node:http';
import { createServer } from 'node:net';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import OpenAI from 'openai';
import { afterAll, describe, expect, it } from 'vitest';
import { scrapeMetrics, waitFor } from '../helpers/edgefleet-process.js';
import { makeTestModel } from '../helpers/models.js';
import {
  isAlive,
  rows,
  runCli,
  startCli,
  startServer,
  TestResources,
  waitForOutput,
} from './fleet-processes.js';

const redisUrl = process.env['EDGEFLEET_TEST_REDIS_URL'] ?? 'redis://127.0.0.1:6379';

interface WorkerHealth {
  status: string;
  routes: { instances: number };
  worker?: { index: number; count: number; pid: number };
}

/** `/health` on a connection of its own (the primary hands each new connection to the next worker). */
function healthOnNewConnection(baseUrl: string): Promise<WorkerHealth> {
  return new Promise((resolve, reject) => {
    const request = http.get(`${baseUrl}/health`, { agent: false, timeout: 2000 }, (response) => {
      let text = '';
      response.setEncoding('utf8').on('data', (part: string) => (text += part));
      response.on('end', () => resolve(JSON.parse(text) as WorkerHealth));
    });
    request.on('timeout', () => request.destroy(new Error('no answer within 2 s')));
    request.on('error', reject);
  });
}

/**
 * One chat request (a single token) on a connection of its own, so that the primary hands it to the next
 * worker in turn; its status.
 */
function postOnNewConnection(baseUrl: string, key: string): Promise<number> {
  const body = JSON.stringify({ model: 'tiny', messages: [{ role: 'user', content: 'hi' }], max_tokens: 1 });
  return new Promise((resolve, reject) => {
    const headers = { authorization: `Bearer ${key}`, 'content-type': 'application/json' };
    const options = { method: 'POST', agent: false, timeout: 10_000, headers };
    const request = http.request(`${baseUrl}/v1/chat/completions`, options, (response) => {
      response.resume();
      response.on('end', () => resolve(response.statusCode ?? 0));
    });
    request.on('timeout', () => request.destroy(new Error('no answer within 10 s')));
    request.on('error', reject);
    request.end(body);
  });
}

/** Bytes of usage records in a worker's journal directory. */
async function journaledBytes(dir: string): Promise<number> {
  let bytes = 0;
  for (const name of await readdir(dir))
    if (name.endsWith('.jsonl')) bytes += (await stat(join(dir, name))).size;
  return bytes;
}

/**
 * `edgefleet gateway --workers 2`: two gateway processes behind one port, beside a server and a worker
 * with a real engine. Both serve; `/metrics` from either counts every request; each journals its own
 * records and the control plane stores each request once; a killed worker is replaced; SIGTERM stops all.
 */
describe('edgefleet gateway --workers', () => {
  const resources = new TestResources();

  afterAll(async () => {
    await resources.cleanup(5000);
  });

  it('refuses several workers without Redis, since each would count key limits alone', async () => {
    const home = await resources.tempDir('ef-gw-workers-noredis-');
    const result = await runCli(
      ['gateway', '--server', 'http://127.0.0.1:9', '--site', 'north', '--home', home, '--workers', '2'],
      { EDGEFLEET_API_KEY: 'ef_admin_x', EDGEFLEET_REDIS_URL: '' },
    );
    expect(result.code).not.toBe(0);
    expect(result.stderr).toMatch(/--workers above 1 needs --redis/);
  });

  it('exits 1 with the reason when its workers cannot listen (the port is taken)', async () => {
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const { port } = taken.address() as { port: number };
    try {
      const home = await resources.tempDir('ef-gw-workers-taken-');
      const env = {
        EDGEFLEET_API_KEY: 'ef_admin_x',
        EDGEFLEET_REDIS_URL: redisUrl,
        EDGEFLEET_LOG_LEVEL: 'error',
      };
      const args = ['gateway', '--server', 'http://127.0.0.1:9', '--site', 'north', '--home', home];
      // Several workers fail as one process does, and say why (once: the primary listens, and starts no
      // worker).
      const one = await runCli([...args, '--port', String(port)], env);
      expect(one.code).toBe(1);
      expect(one.stderr).toContain(`cannot listen on 127.0.0.1:${port}: another process is listening there`);
      const two = await runCli([...args, '--port', String(port), '--workers', '4'], env);
      expect(two.code).toBe(1);
      expect(two.stderr).toContain(`cannot listen on 127.0.0.1:${port}: another process is listening there`);
      expect(two.stderr.match(/cannot listen on/g)).toHaveLength(1);
      expect(two.stderr).not.toMatch(/gateway worker/);
      // A bad flag is a usage error the primary says once, before it starts any worker.
      const bad = await runCli([...args, '--port', 'abc', '--workers', '2'], env);
      expect(bad.code).toBe(2);
      expect(bad.stderr.match(/--port must be an integer/g)).toHaveLength(1);
    } finally {
      taken.close();
    }
  });

  it('serves one port from two processes, adds up their metrics and ships both journals', async () => {
    const model = await makeTestModel({});
    const server = resources.track(
      await startServer(await resources.tempDir('ef-gw-workers-server-'), [
        '--reconcile-ms',
        '200',
        '--context',
        '512',
      ]),
    );
    const token = (await readFile(join(server.home, 'join-token'), 'utf8')).trim();
    resources.track(
      startCli([
        'worker',
        ...['--server', server.url, '--token', token, '--site', 'north', '--name', 'node-north'],
        ...['--home', await resources.tempDir('ef-gw-workers-node-'), '--heartbeat-ms', '200'],
        ...['--threads', '1', '--parallel', '2'],
      ]),
    );
    expect(
      (await server.api('POST', '/api/v1/deployments', { name: 'tiny', model: model.path, replicas: 1 }))
        .status,
    ).toBe(201);
    await resources.explain(
      waitFor(
        async () => {
          const instances = rows((await server.api('GET', '/api/v1/instances')).body);
          return instances.some((i) => i['state'] === 'running') ? true : undefined;
        },
        30_000,
        'a running instance',
      ),
    );
    const created = (await server.api('POST', '/api/v1/keys', { name: 'room-user' })).body as Record<
      string,
      string
    >;
    const secret = created['key']!;

    const home = await resources.tempDir('ef-gw-workers-room-');
    const gateway = resources.track(
      startCli([
        'gateway',
        ...['--server', server.url, '--site', 'north', '--home', home, '--port', '0'],
        ...['--api-key', server.adminKey, '--workers', '2', '--redis', redisUrl],
      ]),
    );
    const url = await waitForOutput(
      gateway,
      /listening on (http:\/\/\S+) with 2 worker processes/,
      'the gateway',
    );

    // New connections go to both workers; each pulls the routes itself.
    const pids = new Map<number, number>();
    await resources.explain(
      waitFor(
        async () => {
          const { worker, routes } = await healthOnNewConnection(url);
          if (worker && routes.instances === 1) pids.set(worker.index, worker.pid);
          return pids.size === 2 ? true : undefined;
        },
        15_000,
        'both workers to answer with the routes',
      ),
    );
    expect([...pids.values()].every((pid) => pid !== gateway.child.pid && isAlive(pid))).toBe(true);

    const client = new OpenAI({ baseURL: `${url}/v1`, apiKey: secret, maxRetries: 0, timeout: 30_000 });
    const chat = async () => {
      const answer = await client.chat.completions.create({
        model: 'tiny',
        messages: [{ role: 'user', content: 'hi there' }],
        temperature: 0,
      });
      expect(answer.choices[0]?.message.content).toBe(model.expectedText);
    };
    // At once, so the client opens several connections and the primary hands them to both workers.
    await Promise.all(Array.from({ length: 8 }, chat));
    expect(await journaledBytes(join(home, 'usage-journal'))).toBeGreaterThan(0);
    expect(await journaledBytes(join(home, 'usage-journal-1'))).toBeGreaterThan(0);

    // Whichever worker answers /metrics counts the requests of both.
    const answered = async () => {
      const text = await scrapeMetrics(url, server.adminKey);
      return [
        ...text.matchAll(/^edgefleet_gateway_requests_total\{[^}]*status="200"[^}]*\} (\d+)$/gm),
      ].reduce((n, m) => n + Number(m[1]), 0);
    };
    for (let i = 0; i < 4; i++) expect(await answered()).toBe(8);
    // Process metrics of every worker, added up.
    expect(await scrapeMetrics(url, server.adminKey)).toMatch(
      /^edgefleet_gateway_process_resident_memory_bytes \d/m,
    );

    const usageCount = async () => {
      const report = await server.api('GET', `/api/v1/usage?group_by=key&key=${created['id']}`);
      return rows(report.body).reduce((n, r) => n + Number(r['requests']), 0);
    };
    await waitFor(
      async () => ((await usageCount()) === 8 ? true : undefined),
      10_000,
      'both journals shipped',
    );

    // A key's limit holds across both workers, counted in Redis: rpm 6, then 10 requests each on a new
    // connection (the primary hands them to the workers in turn). Each worker alone would admit 6.
    const limited = (await server.api('POST', '/api/v1/keys', { name: 'limited', rpm: 6 })).body as Record<
      string,
      string
    >;
    let spent = 0; // answered requests until both workers know the new key (2 in a row)
    let inARow = 0;
    await waitFor(
      async () => {
        const status = await postOnNewConnection(url, limited['key']!);
        if (status === 200) spent += 1;
        inARow = status === 200 ? inARow + 1 : 0;
        return inARow >= 2 ? true : undefined;
      },
      15_000,
      'both gateway workers to know the new key',
    );
    const statuses: number[] = [];
    for (let i = 0; i < 10; i++) statuses.push(await postOnNewConnection(url, limited['key']!));
    const admitted = Math.max(0, 6 - spent);
    expect(statuses.filter((s) => s === 200)).toHaveLength(admitted);
    expect(statuses.filter((s) => s === 429)).toHaveLength(10 - admitted);

    /** Waits until worker `index` answers from a process other than `old`, and notes its pid. */
    const replaced = (index: number, old: number) =>
      resources.explain(
        waitFor(
          async () => {
            const { worker } = await healthOnNewConnection(url);
            if (worker?.index !== index || worker.pid === old) return undefined;
            pids.set(index, worker.pid);
            return true;
          },
          15_000,
          `a new worker ${index}`,
        ),
      );
    // A worker that dies is replaced under the same index (so it reopens its own journal).
    const killed = pids.get(1)!;
    process.kill(killed, 'SIGKILL');
    await replaced(1, killed);
    // A worker signalled twice (stopping a service signals every process of it, then the primary
    // signals its workers again) still shuts down as it should: it exits 0, not killed by the second.
    const twice = pids.get(0)!;
    process.kill(twice, 'SIGTERM');
    await new Promise((resolve) => setTimeout(resolve, 50));
    if (isAlive(twice)) process.kill(twice, 'SIGTERM');
    const exit = await waitForOutput(
      gateway,
      /"worker":0,("code":\S+,"signal":\S+),"restartInMs"/,
      'worker 0 to exit',
    );
    expect(exit).toBe('"code":0,"signal":null');
    await replaced(0, twice);
    await Promise.all(Array.from({ length: 4 }, chat));
    await waitFor(
      async () => ((await usageCount()) === 12 ? true : undefined),
      10_000,
      'the later shipments',
    );

    // SIGTERM to the primary stops every worker, and the gateway exits 0.
    const workerPids = [...pids.values()];
    expect(await gateway.stop('SIGTERM')).toEqual({ code: 0, signal: null });
    expect(workerPids.filter(isAlive)).toEqual([]);
  }, 120_000);
});
