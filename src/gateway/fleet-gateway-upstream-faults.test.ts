import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer, type AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import { closeServers, listen } from '../../test/helpers/http-servers.js';
import { routeInstance as instance } from '../../test/helpers/route-instance.js';
import { sendError } from '../http/respond.js';
import type { RouteInstance, RouteTable } from '../spec/route-table.js';
import type { UsageEvent } from '../spec/usage-event.js';
import { createLogger } from '../telemetry/logger.js';
import { FleetGateway } from './fleet-gateway.js';
import { defaultRoutingConfig } from './routing/routing-config.js';

/**
 * The gateway against instances that break the protocol in ways real servers do: events that never
 * end, answers too large to hold, compressed answers, refusals whose body never ends, streams kept open
 * after `[DONE]`. Each must end quickly, plainly, and be metered as what it was.
 */
type Script = (request: IncomingMessage, response: ServerResponse) => void;

const silentLog = createLogger('test');
silentLog.level = 'silent';
const gateways: FleetGateway[] = [];
afterEach(async () => {
  for (const gateway of gateways.splice(0)) await gateway.close();
  await closeServers();
});

async function upstream(script: Script) {
  const seen: IncomingMessage[] = [];
  const url = await listen((request, response) => {
    request.resume();
    request.on('end', () => {
      if (!request.url?.startsWith('/v1/')) return void response.writeHead(404).end();
      seen.push(request);
      script(request, response);
    });
  });
  return { url, seen };
}

async function startGateway(...instances: RouteInstance[]) {
  const table: RouteTable = {
    builtAtMs: Date.now(),
    models: [
      { name: 'm', deploymentId: 'd1', status: 'running', statusReason: null, createdAtMs: 0, instances },
    ],
  };
  const events: UsageEvent[] = [];
  const gateway = new FleetGateway({
    routes: { get: async () => table, refresh: async () => table },
    log: silentLog,
    maxBodyBytes: 64 * 1024,
    upstreamWaitMs: 300,
    // Ties in key order, no prefix affinity: the first instance listed is asked first.
    routing: defaultRoutingConfig({ prefixAffinity: { enabled: false } }),
    recordUsage: async (event) => void events.push(event),
  });
  gateways.push(gateway);
  const url = await listen((request, response) => {
    const path = (request.url ?? '/').split('?')[0]!;
    gateway.handle(request, response, path).catch((error: unknown) => sendError(response, error));
  });
  return { url, events };
}

const post = (url: string, body: object, headers: Record<string, string> = {}) =>
  fetch(`${url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'hi' }], ...body }),
  });

async function until(condition: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

const chunk = (text: string) => `data: {"choices":[{"index":0,"delta":{"content":"${text}"}}]}\n\n`;
const usage = (prompt: number, completion: number) =>
  `{"prompt_tokens":${prompt},"completion_tokens":${completion},"total_tokens":${prompt + completion}}`;

/** A well-behaved instance's JSON answer. */
const answersFine: Script = (_req, res) => {
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(`{"choices":[{"index":0,"message":{"content":"fine"}}],"usage":${usage(3, 1)}}`);
};

describe('FleetGateway with instances that break the protocol', () => {
  it('ends a stream whose event grows past the limit with an error, without holding it all', async () => {
    const endless = await upstream((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write(chunk('he'));
      res.write('data: {"choices":[{"delta":{"content":"');
      const piece = 'y'.repeat(64 * 1024);
      let sent = 0;
      const more = () => {
        // 64 MB at most: far past the 4 MiB limit, unless the gateway stops reading first.
        while (sent < 1024 && res.write(piece)) sent += 1;
        if (sent < 1024 && !res.destroyed) res.once('drain', more);
      };
      more();
    });
    const { url, events } = await startGateway(instance('a', endless.url));
    const started = Date.now();
    const text = await (await post(url, { stream: true })).text();
    expect(text.startsWith(chunk('he'))).toBe(true);
    expect(text).toContain('the engine sent an event longer than 4194304 bytes');
    expect(text).not.toContain('yyyy');
    expect(text).not.toContain('[DONE]');
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(events[0]).toMatchObject({ status: 200, outcome: 'broken' });
  });

  it('reads the usage of a JSON answer too large to hold from its end, and refuses a large one that is not JSON', async () => {
    const content = 'z'.repeat(9 * 1024 * 1024);
    const big = await upstream((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(
        `{"object":"chat.completion","choices":[{"index":0,"message":{"content":"${content}"}}],"usage":${usage(11, 2_300_000)}}`,
      );
    });
    const { url, events } = await startGateway(instance('a', big.url));
    const answer = (await (await post(url, {})).json()) as { usage: { completion_tokens: number } };
    expect(answer.usage.completion_tokens).toBe(2_300_000);
    expect(events[0]).toMatchObject({ promptTokens: 11, completionTokens: 2_300_000, outcome: 'ok' });

    const html = await upstream((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end(`<html>${content}</html>`);
    });
    const healthy = await upstream(answersFine);
    const second = await startGateway(instance('a', html.url), instance('b', healthy.url));
    const response = await post(second.url, {});
    expect(response.status).toBe(200);
    expect(response.headers.get('x-edgefleet-instance')).toBe('b');
    expect(await response.text()).toContain('fine');
  });

  it('asks instances for uncompressed answers, and refuses a compressed one it did not ask for', async () => {
    const polite = await upstream((req, res) => {
      const gzip = /gzip/.test(String(req.headers['accept-encoding']));
      const body = `{"choices":[{"index":0,"message":{"content":"hi"}}],"usage":${usage(3, 1)}}`;
      res.writeHead(200, { 'content-type': 'application/json', ...(gzip && { 'content-encoding': 'gzip' }) });
      res.end(gzip ? gzipSync(body) : body);
    });
    const { url, events } = await startGateway(instance('a', polite.url));
    // The openai client sends `accept-encoding: gzip, deflate`.
    const response = await post(url, {}, { 'accept-encoding': 'gzip, deflate' });
    expect(response.status).toBe(200);
    expect(polite.seen[0]!.headers['accept-encoding']).toBe('identity');
    expect(events[0]).toMatchObject({ promptTokens: 3, completionTokens: 1 });

    const rude = await upstream((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'gzip' });
      res.end(gzipSync('{"choices":[]}'));
    });
    const second = await startGateway(instance('a', rude.url));
    const refused = await post(second.url, {});
    expect(refused.status).toBe(503);
    expect(await refused.text()).toContain('content-encoding \\"gzip\\", which was not asked for');
  });

  it('moves on from a 503 whose body never ends within about a second', async () => {
    const hanging = await upstream((_req, res) => {
      res.writeHead(503, { 'content-type': 'application/json' });
      res.write('{"error":{"message":"overloaded"'); // and nothing more
    });
    const healthy = await upstream(answersFine);
    const { url } = await startGateway(instance('a', hanging.url), instance('b', healthy.url));
    const started = Date.now();
    const response = await post(url, {});
    expect(response.status).toBe(200);
    expect(response.headers.get('x-edgefleet-instance')).toBe('b');
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it('ends a stream at [DONE]: nothing after it is relayed, and an engine that keeps it open is not waited for', async () => {
    const lingering = await upstream((_req, res) => {
      res.writeHead(200, { 'content-type': 'Text/Event-Stream; charset=utf-8' });
      res.write(chunk('one'));
      res.write(`data: {"choices":[],"usage":${usage(4, 1)}}\n\n`);
      res.write('data: [DONE]\n\n');
      res.write(chunk('AFTER-DONE')); // and the connection stays open
    });
    const { url, events } = await startGateway(instance('a', lingering.url));
    const started = Date.now();
    const text = await (await post(url, { stream: true })).text();
    expect(text).toBe(`${chunk('one')}data: [DONE]\n\n`);
    expect(Date.now() - started).toBeLessThan(5000);
    expect(events[0]).toMatchObject({ promptTokens: 4, completionTokens: 1, outcome: 'ok' });

    // [DONE], then the connection is reset before the response's end: the answer was whole.
    const resetting = await upstream((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write(chunk('two'));
      res.write('data: [DONE]\n\n', () => setTimeout(() => res.socket?.resetAndDestroy(), 50));
    });
    const second = await startGateway(instance('a', resetting.url));
    expect(await (await post(second.url, { stream: true })).text()).toBe(`${chunk('two')}data: [DONE]\n\n`);
    expect(second.events[0]).toMatchObject({ outcome: 'ok' });
  });

  it("answers 502 when an instance refuses the gateway's credential, and tries another instance", async () => {
    const wrongKey = await upstream((_req, res) => {
      res.writeHead(401, { 'content-type': 'application/json' });
      res.end('{"error":{"message":"Incorrect API key provided","code":"invalid_api_key"}}');
    });
    const lone = await startGateway(instance('a', wrongKey.url));
    const refused = await post(lone.url, {});
    // Not a 401: the client's own key was fine.
    expect(refused.status).toBe(502);
    const body = (await refused.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe('engine_error');
    expect(body.error.message).toContain(
      "refused the gateway's credentials (401: Incorrect API key provided)",
    );
    expect(body.error.message).toContain('edgefleet endpoints add --upstream-key');
    const healthy = await upstream(answersFine);
    const pair = await startGateway(instance('a', wrongKey.url), instance('b', healthy.url));
    const response = await post(pair.url, {});
    expect(response.status).toBe(200);
    expect(response.headers.get('x-edgefleet-instance')).toBe('b');
  });

  it('meters a stream whose engine sent an error event as broken, even when the client hangs up on it', async () => {
    const failing = await upstream((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write(chunk('he'));
      res.write('data: {"error":{"message":"out of memory"}}\n\n');
      setTimeout(() => res.end(), 500); // closes a little later
    });
    const { url, events } = await startGateway(instance('a', failing.url));
    const response = await post(url, { stream: true });
    // What the openai client does: it stops reading at the error event.
    const reader = response.body!.getReader();
    let text = '';
    while (!text.includes('out of memory')) text += new TextDecoder().decode((await reader.read()).value);
    await reader.cancel();
    await until(() => events.length === 1);
    expect(events[0]).toMatchObject({ status: 200, outcome: 'broken' });
  });

  it('refuses a JSON answer to a streamed request instead of passing on an empty stream', async () => {
    const ignoresStream = await upstream((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(`{"choices":[{"index":0,"message":{"content":"all at once"}}],"usage":${usage(3, 3)}}`);
    });
    const lone = await startGateway(instance('a', ignoresStream.url));
    const refused = await post(lone.url, { stream: true });
    expect(refused.status).toBe(502);
    expect(await refused.text()).toContain('answered a streamed request with a JSON body');
    // The same answer is right for a JSON request (a fresh gateway: the refusal cooled the instance down).
    expect((await post((await startGateway(instance('a', ignoresStream.url))).url, {})).status).toBe(200);
    const streams = await upstream((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.end(`${chunk('fine')}data: [DONE]\n\n`);
    });
    const pair = await startGateway(instance('a', ignoresStream.url), instance('b', streams.url));
    const response = await post(pair.url, { stream: true });
    expect(response.headers.get('x-edgefleet-instance')).toBe('b');
    expect(await response.text()).toBe(`${chunk('fine')}data: [DONE]\n\n`);
  });

  it("passes on the instance's retry-after with the refusal the client gets", async () => {
    const busy = await upstream((_req, res) => {
      res.writeHead(429, { 'content-type': 'application/json', 'retry-after': '7' });
      res.end('{"error":{"message":"too many requests"}}');
    });
    const { url } = await startGateway(instance('a', busy.url));
    const response = await post(url, {});
    expect(response.status).toBe(429);
    expect(response.headers.get('retry-after')).toBe('7');
    expect(await response.text()).toContain('too many requests');
  });

  it('says an answer with conflicting content-lengths is malformed, not that the engine is unreachable', async () => {
    const raw = createServer((socket) => {
      socket.on('data', () =>
        socket.end(
          'HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n' +
            'content-length: 10\r\ncontent-length: 12\r\n\r\n{"a":1}    ',
        ),
      );
      socket.on('error', () => undefined);
    });
    await new Promise<void>((resolve) => raw.listen(0, '127.0.0.1', resolve));
    try {
      const { url } = await startGateway(
        instance('a', `http://127.0.0.1:${(raw.address() as AddressInfo).port}`),
      );
      const response = await post(url, {});
      expect(response.status).toBe(503);
      expect(await response.text()).toContain('the instance sent a malformed HTTP answer');
    } finally {
      raw.close();
    }
  });
});
