import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import OpenAI from 'openai';
import { afterAll, describe, expect, it } from 'vitest';
import type { DesiredInstance, HeartbeatRequest } from '../../src/spec/worker-protocol.js';
import { waitFor } from '../helpers/edgefleet-process.js';
import { makeTestModel } from '../helpers/models.js';
import { startCli, TestResources } from './fleet-processes.js';

/**
 * A rolling update in place, as a real `edgefleet worker` sees it: one heartbeat answer drops instance A
 * and adds instance B on the same device (the control plane placed B in A's memory). A's engine drains
 * the stream it is answering; meanwhile the worker goes on heartbeating (a drain must not make the node
 * look dead) and starts B's engine only once A's has exited. The control plane here answers the worker
 * protocol from the test, which decides the desired instances: a real server places in place only where
 * a GPU holds one copy of a model, which this machine has not.
 */
describe('worker replacing an instance in place', () => {
  const resources = new TestResources();
  const controls: Server[] = [];
  afterAll(async () => {
    await resources.cleanup();
    for (const control of controls) {
      control.closeAllConnections();
      control.close();
    }
  });

  /** The worker protocol answered from the test: every heartbeat is recorded and told `desired()`. */
  const controlPlane = async (desired: () => DesiredInstance[]) => {
    const beats: { atMs: number; reports: HeartbeatRequest['instances']; leaving: boolean }[] = [];
    const readJson = async (request: IncomingMessage) => {
      let text = '';
      for await (const chunk of request) text += String(chunk);
      return JSON.parse(text) as Record<string, unknown>;
    };
    const control = createServer((request, response) => {
      void readJson(request).then((body) => {
        const answer =
          request.url === '/api/v1/worker/register'
            ? { nodeId: 'n-1', siteId: 's-1', credential: 'ef_node_test' }
            : (beats.push({
                atMs: Date.now(),
                reports: (body as HeartbeatRequest).instances,
                leaving: body['leaving'] === true,
              }),
              { nodeId: 'n-1', instances: desired() });
        response.writeHead(200, { 'content-type': 'application/json' });
        response.end(JSON.stringify(answer));
      });
    });
    controls.push(control);
    control.listen(0, '127.0.0.1');
    await once(control, 'listening');
    const url = `http://127.0.0.1:${(control.address() as AddressInfo).port}`;
    const report = (id: string) => beats.at(-1)?.reports.find((r) => r.id === id);
    const logOf = (beat: (typeof beats)[number], id: string) =>
      beat.reports.find((r) => r.id === id)?.logTail?.join('\n') ?? '';
    /** Resolves to the instance's port once the worker reports it running. */
    const runningPort = (id: string) =>
      resources.explain(
        waitFor(
          async () => (report(id)?.state === 'running' ? report(id)?.port : undefined),
          60_000,
          `instance ${id} to run`,
        ),
      );
    return { url, beats, logOf, runningPort };
  };
  const workerArgs = (url: string, home: string) => [
    ...['worker', '--server', url, '--token', 'ef_join_test', '--site', 'local', '--name', 'n-1'],
    ...['--home', home, '--heartbeat-ms', '200', '--threads', '1', '--parallel', '1'],
  ];

  it('keeps heartbeating while the old engine drains, and starts the new one after it exits', async () => {
    const model = await makeTestModel({ contextLength: 1024 });
    const home = await resources.tempDir('ef-replace-');
    const instance = (id: string): DesiredInstance => ({
      id,
      deploymentId: 'd-1',
      modelRef: model.path,
      servedName: 'chat',
      engine: 'llama.cpp',
      deviceIndexes: [0], // the CPU: the only device of a machine without accelerators
      contextTokens: 1024,
    });
    let desired = [instance('a')];
    const { url, beats, logOf, runningPort } = await controlPlane(() => desired);
    resources.track(startCli(workerArgs(url, home)));
    const port = await runningPort('a');

    // A stream on a's engine, long enough to be in flight when a is dropped.
    const client = new OpenAI({ baseURL: `http://127.0.0.1:${port}/v1`, apiKey: 'none', maxRetries: 0 });
    const request = {
      model: 'chat',
      prompt: 'hello',
      max_tokens: 900,
      stream: true as const,
      ignore_eos: true,
    };
    const stream = await client.completions.create(request);
    let chunks = 0;
    let finish: string | null = null;
    let droppedAtMs = 0;
    for await (const chunk of stream) {
      chunks += 1;
      finish = chunk.choices[0]?.finish_reason ?? finish;
      if (chunks === 5) {
        desired = [instance('b')];
        droppedAtMs = Date.now();
      }
    }
    const finishedAtMs = Date.now();
    expect(finish).toBe('length');
    expect(chunks).toBeGreaterThan(800);

    await runningPort('b');
    const drainMs = finishedAtMs - droppedAtMs;
    // The drain took a while (the rest of a 900-token answer), and heartbeats went on through it (every
    // 200 ms, not one blocked stop).
    expect(drainMs).toBeGreaterThan(600);
    const during = beats.filter((b) => b.atMs > droppedAtMs + 300 && b.atMs < finishedAtMs);
    expect(during.length).toBeGreaterThan(drainMs / 200 / 2);
    // a is reported as stopping while it drains (so a node being drained is not taken for empty), and
    // no more once it has stopped.
    expect(during.some((b) => b.reports.some((r) => r.id === 'a' && r.state === 'stopping'))).toBe(true);
    expect(beats.at(-1)?.reports.some((r) => r.id === 'a')).toBe(false);
    // b fetched its model meanwhile and said it waits, but started its engine only after a's stream ended.
    const waiting = beats.find((b) => logOf(b, 'b').includes('waiting for the instance it replaces'));
    expect(waiting?.atMs).toBeLessThan(finishedAtMs);
    const engineStart = beats.find((b) => logOf(b, 'b').includes('starting engine llama.cpp'));
    expect(engineStart?.atMs).toBeGreaterThan(finishedAtMs - 250);
  }, 120_000);

  /** An instance of the vLLM test double (it speaks vLLM's API and metric names). */
  const vllmInstance = (id: string): DesiredInstance => ({
    ...{ id, deploymentId: 'd-1', modelRef: 'org/model', servedName: 'chat', engine: 'vllm' },
    ...{ deviceIndexes: [0], contextTokens: 1024 },
  });
  /** A worker running instance `a` on the vLLM double, which answers after `replyMs`; one chat in flight. */
  const vllmAnswerInFlight = async (desired: () => DesiredInstance[], replyMs: number) => {
    const home = await resources.tempDir('ef-vllm-worker-');
    const control = await controlPlane(desired);
    const fakeVllm = fileURLToPath(new URL('../fixtures/engines/fake-vllm.mjs', import.meta.url));
    const worker = resources.track(
      startCli([...workerArgs(control.url, home), '--engine-bin', `vllm=${fakeVllm}`], {
        env: { FAKE_VLLM_REPLY_MS: String(replyMs), EDGEFLEET_LOG_LEVEL: 'info' },
      }),
    );
    const port = await control.runningPort('a');
    const client = new OpenAI({ baseURL: `http://127.0.0.1:${port}/v1`, apiKey: 'none', maxRetries: 0 });
    const answer = client.chat.completions.create({
      model: 'chat',
      messages: [{ role: 'user', content: 'hello' }],
    });
    await new Promise((resolve) => setTimeout(resolve, 300));
    return { ...control, worker, answer };
  };

  // vLLM (by default) and llama-server abort the answers in flight on SIGTERM: the worker waits for them
  // first, reading the engine's own metrics.
  it('lets a process engine finish the answer in flight before stopping it', async () => {
    let desired = [vllmInstance('a')];
    const { beats, logOf, runningPort, worker, answer } = await vllmAnswerInFlight(() => desired, 6000);
    desired = [vllmInstance('b')];
    const completion = await answer; // rejects when the engine was stopped under it
    const finishedAtMs = Date.now();
    expect(completion.choices[0]?.message.content).toBe('Hello from the fake vLLM.');
    await runningPort('b');
    // The worker read the answer in flight (after its 2 s wait for gateways) and waited for it.
    expect(worker.output()).toMatch(/"instanceId":"a".*"maxInFlight":1,"msg":"engine drained"/);
    const engineStart = beats.find((b) => logOf(b, 'b').includes('starting engine vllm'));
    expect(engineStart?.atMs).toBeGreaterThan(finishedAtMs - 250);
  }, 120_000);

  it('leaves on SIGTERM, then lets its process engine finish the answer in flight', async () => {
    const { beats, worker, answer } = await vllmAnswerInFlight(() => [vllmInstance('a')], 4000);
    const exited = worker.stop('SIGTERM');
    const completion = await answer; // rejects when the engine was stopped under it
    expect(completion.choices[0]?.message.content).toBe('Hello from the fake vLLM.');
    expect(await exited).toEqual({ code: 0, signal: null });
    // The node left with its instance stopping, and said so again once its engine had stopped.
    expect(beats.filter((b) => b.leaving).map((b) => b.reports)).toEqual([
      [{ id: 'a', state: 'stopping' }],
      [],
    ]);
    expect(beats.at(-1)?.leaving).toBe(true);
    expect(worker.output()).toMatch(/"instanceId":"a".*"maxInFlight":1,"msg":"engine drained"/);
  }, 60_000);
});
