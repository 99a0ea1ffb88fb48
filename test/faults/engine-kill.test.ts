import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import OpenAI from 'openai';
import { afterAll, describe, expect, it } from 'vitest';
import { metricValue, scrapeMetrics, waitFor } from '../helpers/edgefleet-process.js';
import { makeTestModel } from '../helpers/models.js';
import {
  commandLine,
  descendantPids,
  engineKey,
  type FleetProcess,
  type FleetServer,
  rows,
  runCli,
  startCli,
  startServer,
  TestResources,
} from '../fleet/fleet-processes.js';

/**
 * `kill -9` of an engine in the middle of 50 concurrent streams through the server's gateway, with two
 * instances on two workers (in two rooms, so the replicas spread): a request that had not started streaming on the killed engine is retried on
 * the other and answered in full; a stream that was running ends with an error event (the openai client
 * throws), never as if it had finished; the instance is restarted; afterwards no slot, request or
 * allocation is left behind (both engines idle, the gateway has nothing in flight, exactly two instances
 * holding one device each).
 */
const streams = 50;
const parallel = 4;
// Every stream generates exactly this many tokens (`ignore_eos`: the generated model's own answer is 16 tokens,
// short enough that a stream could be fully written before the kill reached its engine).
const maxTokens = 96;

interface StreamResult {
  chunks: number;
  text: string;
  finished: boolean;
  error?: string;
  instance: string | null;
}

describe('kill -9 of an engine under 50 concurrent streams', () => {
  const resources = new TestResources();
  const { processes } = resources;

  afterAll(async () => {
    await resources.cleanup();
  });

  const tempDir = (prefix: string) => resources.tempDir(prefix);

  it('retries what had not started, breaks what was streaming, restarts the engine and leaks nothing', async () => {
    const model = await makeTestModel({});
    const serverHome = await tempDir('ef-kill-server-');
    // Every queued request on the killed engine may be retried (the default budget, 20% of requests,
    // is there to stop a dying room from doubling the load; this test wants to see each retry succeed).
    const routing = join(serverHome, 'routing.yaml');
    await writeFile(routing, 'retry:\n  budgetRatio: 1\n  maxAttempts: 3\n');
    const server: FleetServer = await startServer(serverHome, [
      ...['--reconcile-ms', '200', '--context', '512', '--routing-config', routing],
      ...['--upstream-wait-ms', '20000'],
    ]);
    processes.push(server);
    const workers: FleetProcess[] = [];
    for (const name of ['n1', 'n2']) {
      const home = await tempDir(`ef-kill-${name}-`);
      // Join tokens are single-use: the first start's, then a fresh one (`edgefleet server token`).
      const token =
        name === 'n1'
          ? (await readFile(join(serverHome, 'join-token'), 'utf8')).trim()
          : (await runCli(['server', 'token', '--home', serverHome])).stdout.trim();
      const worker = startCli([
        ...['worker', '--server', server.url, '--token', token, '--site', `room-${name}`, '--name', name],
        ...['--home', home, '--heartbeat-ms', '200', '--threads', '1', '--parallel', String(parallel)],
      ]);
      processes.push(worker);
      workers.push(worker);
    }
    const diagnostics = () =>
      `\nserver:\n${server.output().slice(-3000)}\n` +
      workers.map((w, i) => `worker ${i + 1}:\n${w.output().slice(-2000)}`).join('\n');

    await waitFor(
      async () => {
        const up = rows((await server.api('GET', '/api/v1/nodes')).body).filter((n) => n['status'] === 'up');
        return up.length === 2 ? true : undefined;
      },
      30_000,
      'both workers to register',
    );
    const created = await server.api('POST', '/api/v1/deployments', {
      name: 'tiny',
      model: model.path,
      replicas: 2,
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const instances = async () => rows((await server.api('GET', '/api/v1/instances')).body);
    const running = await waitFor(
      async () => {
        const list = await instances();
        const up = list.filter((i) => i['state'] === 'running');
        return up.length === 2 && new Set(up.map((i) => i['nodeId'])).size === 2 ? up : undefined;
      },
      60_000,
      'two running instances on two nodes',
    ).catch(async (error: Error) => {
      throw new Error(`${error.message}\n${JSON.stringify(await instances())}${diagnostics()}`);
    });

    // Each worker's engine process, by node id (the victim is chosen once streams run: whichever instance
    // the router gave work to first, so the test does not depend on how the router ranks two equal rooms).
    const nodes = rows((await server.api('GET', '/api/v1/nodes')).body);
    const enginePids = new Map<unknown, number | undefined>();
    for (const [index, name] of ['n1', 'n2'].entries()) {
      const node = nodes.find((n) => n['name'] === name)!;
      const pids = await descendantPids(workers[index]!.child.pid!);
      enginePids.set(
        node['id'],
        pids.find((pid) => / engine /.test(commandLine(pid))),
      );
    }
    expect(
      [...enginePids.values()].every((pid) => pid !== undefined),
      diagnostics(),
    ).toBe(true);

    // Each engine's own metrics tell when requests wait for one of its slots.
    const engines = await Promise.all(
      running.map(async (i) => ({
        id: i['id'] as string,
        url: `http://127.0.0.1:${String(i['port'])}`,
        key: await engineKey(server, i['id']),
      })),
    );
    const client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: server.adminKey, maxRetries: 0 });
    // Armed for the engine with the most requests waiting for a slot, once that is more than one batch of
    // slots, the next stream to start there kills it in the same tick as its first chunk arrives: that
    // stream is still generating, and since streams of one length free their slots together, at most
    // `parallel` waiting ones start with it and the rest still wait, to be retried elsewhere. (Polling for a
    // victim and killing it later let a slow machine kill an engine whose few short streams had all
    // finished and whose queue was empty; arming at fewer waiting than slots let them all start at once.)
    const startedOn = new Map<string, number>();
    let armedFor: string | null = null;
    let killedAt: number | null = null;
    let victimId: string | undefined;
    const onFirstChunk = (instance: string) => {
      startedOn.set(instance, (startedOn.get(instance) ?? 0) + 1);
      if (instance !== armedFor || victimId !== undefined) return;
      victimId = instance;
      const pid = enginePids.get(running.find((i) => i['id'] === instance)?.['nodeId']);
      if (pid !== undefined) {
        process.kill(pid, 'SIGKILL');
        killedAt = Date.now();
      }
    };
    const one = async (n: number): Promise<StreamResult> => {
      const result: StreamResult = { chunks: 0, text: '', finished: false, instance: null };
      try {
        const { data: stream, response } = await client.completions
          .create({
            model: 'tiny',
            prompt: `request ${n}:`,
            max_tokens: maxTokens,
            temperature: 0,
            stream: true,
            ignore_eos: true, // vLLM's extension, accepted by EdgeFleet
          } as OpenAI.CompletionCreateParamsStreaming)
          .withResponse();
        result.instance = response.headers.get('x-edgefleet-instance');
        for await (const chunk of stream) {
          if (result.chunks === 0 && result.instance) onFirstChunk(result.instance);
          result.chunks += 1;
          result.text += chunk.choices[0]?.text ?? '';
          if (chunk.choices[0]?.finish_reason) result.finished = true;
        }
      } catch (error) {
        result.error = error instanceof Error ? error.message : String(error);
      }
      return result;
    };
    const all = Promise.all(Array.from({ length: streams }, (_, n) => one(n)));
    // Both engines are read at once, each read bounded, and what the reads saw is kept for the failure
    // message (a run on a loaded machine once missed the whole window with no trace of why).
    const seen = new Map<string, { reads: number; mostWaiting: number; errors: number; lastError?: string }>(
      engines.map((engine) => [engine.id, { reads: 0, mostWaiting: 0, errors: 0 }]),
    );
    const readWaiting = async (engine: (typeof engines)[number]): Promise<number> => {
      const record = seen.get(engine.id)!;
      try {
        const metrics = await scrapeMetrics(engine.url, engine.key, AbortSignal.timeout(2_000));
        const waiting = metricValue(metrics, 'edgefleet_engine_requests_waiting') ?? 0;
        record.reads += 1;
        record.mostWaiting = Math.max(record.mostWaiting, waiting);
        return waiting;
      } catch (error) {
        record.errors += 1;
        record.lastError = error instanceof Error ? error.message : String(error);
        return 0;
      }
    };
    armedFor = await waitFor(
      async () => {
        const waiting = await Promise.all(engines.map(readWaiting));
        const most = Math.max(...waiting);
        return most > parallel ? engines[waiting.indexOf(most)]!.id : undefined;
      },
      60_000,
      `more than ${parallel} requests waiting on an engine`,
    ).catch((error: Error) => {
      throw new Error(
        `${error.message}: started ${JSON.stringify([...startedOn])}, engine reads ${JSON.stringify([...seen])}` +
          diagnostics(),
      );
    });
    await waitFor(
      async () => victimId,
      60_000,
      'the next stream to start on an engine with requests waiting',
    ).catch((error: Error) => {
      throw new Error(`${error.message}: ${JSON.stringify([...startedOn])}${diagnostics()}`);
    });
    const victim = running.find((i) => i['id'] === victimId)!;
    expect(victim, JSON.stringify(running)).toBeDefined();
    expect(killedAt, `no engine process for node ${String(victim['nodeId'])}`).not.toBeNull();
    const results = await all;

    const broken = results.filter((r) => r.error !== undefined);
    const answered = results.filter((r) => r.error === undefined);
    const summary = JSON.stringify(
      results.map((r) => ({
        c: r.chunks,
        f: r.finished,
        i: r.instance?.slice(0, 8),
        e: r.error?.slice(0, 60),
      })),
    );
    // Every failure is a stream that had started on the killed engine; no request failed before streaming.
    for (const r of broken) {
      expect(r.instance, summary).toBe(victim['id']);
      expect(r.chunks, summary).toBeGreaterThan(0);
      expect(r.finished, summary).toBe(false);
    }
    expect(broken.length, summary).toBeGreaterThan(0);
    expect(broken.length, summary).toBeLessThanOrEqual(parallel);
    // Everything else finished, and what had waited on the victim was moved to the other instance.
    for (const r of answered) expect(r.finished, summary).toBe(true);
    expect(answered.length).toBe(streams - broken.length);
    const retries =
      metricValue(await scrapeMetrics(server.url, server.adminKey), 'edgefleet_gateway_retries_total') ?? 0;
    expect(retries, summary).toBeGreaterThan(0);

    // The killed instance is restarted (same instance, one more restart) and serves again.
    const restartedAfterMs = await waitFor(
      async () => {
        const again = (await instances()).find((i) => i['id'] === victim['id']);
        return again?.['state'] === 'running' && Number(again['restarts']) >= 1
          ? Date.now() - killedAt!
          : undefined;
      },
      60_000,
      'the killed instance to be restarted',
    );
    const movedToOther = answered.filter((r) => r.instance !== victim['id']).length;
    console.info(
      `engine kill: ${broken.length} streams broken, ${answered.length} answered (${movedToOther} by the other instance), ` +
        `${retries} retries, restarted after ${restartedAfterMs} ms`,
    );

    // Nothing left behind: two instances, one device each on distinct nodes; no request in flight anywhere.
    const final = await instances();
    expect(final).toHaveLength(2);
    expect(new Set(final.map((i) => i['nodeId'])).size).toBe(2);
    for (const i of final) expect((i['allocations'] as unknown[]).length).toBeGreaterThan(0);
    await waitFor(
      async () => {
        for (const i of final) {
          const metrics = await scrapeMetrics(
            `http://127.0.0.1:${String(i['port'])}`,
            await engineKey(server, i['id']),
          );
          const busy = metricValue(metrics, 'edgefleet_engine_requests_running') ?? -1;
          const waiting = metricValue(metrics, 'edgefleet_engine_requests_waiting') ?? -1;
          if (busy !== 0 || waiting !== 0) return undefined;
        }
        return true;
      },
      10_000,
      'both engines to be idle',
    );
    const gatewayMetrics = await scrapeMetrics(server.url, server.adminKey);
    expect(metricValue(gatewayMetrics, 'edgefleet_gateway_requests_in_flight ')).toBe(0);
  }, 180_000);
});
