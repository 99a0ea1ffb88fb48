import { once } from 'node:events';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import {
  closeServers,
  listen,
  oneRequestPerConnection,
  refusingUrl,
} from '../../test/helpers/http-servers.js';
import { testPrincipal } from '../../test/helpers/principals.js';
import { routeInstance as instance } from '../../test/helpers/route-instance.js';
import { sendError } from '../http/respond.js';
import { EdgeFleetError } from '../spec/edgefleet-error.js';
import type { RouteInstance, RouteTable } from '../spec/route-table.js';
import { usageEventSchema, type UsageEvent } from '../spec/usage-event.js';
import { createLogger } from '../telemetry/logger.js';
import type { KeyPrincipal } from '../spec/api-keys.js';
import { KeyGuard } from './auth/key-guard.js';
import { LocalRateLimiter } from './auth/local-rate-limiter.js';
import { FleetGateway, type RouteSource } from './fleet-gateway.js';
import { defaultRoutingConfig } from './routing/routing-config.js';

/**
 * The gateway against scripted OpenAI-compatible upstreams: each answers as the test says (delays,
 * 5xx, broken streams), so routing, retries and error endings can be checked exactly.
 */
type Script = (request: IncomingMessage, response: ServerResponse, body: string) => void | Promise<void>;

const silentLog = createLogger('test');
silentLog.level = 'silent';

afterEach(closeServers);

/**
 * An upstream that records the inference requests it was sent and answers every request with `script`
 * (so it has no tokenizer API: `/tokenize` gets an answer that is not one, and usage is estimated).
 */
async function upstream(script: Script) {
  const seen: string[] = [];
  const url = await listen((request, response) => {
    let body = '';
    request.setEncoding('utf8').on('data', (c: string) => (body += c));
    request.on('end', () => {
      if (request.url?.startsWith('/v1/')) seen.push(body);
      void script(request, response, body);
    });
  });
  return { url, seen };
}

/** A chat request with a key whose client goes away after `ms`. */
async function leaveAfter(url: string, ms: number): Promise<void> {
  const abort = new AbortController();
  setTimeout(() => abort.abort(), ms);
  await expect(
    fetch(`${url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: 'Bearer secret' },
      body: chat(),
      signal: abort.signal,
    }),
  ).rejects.toThrow();
}

const ok: Script = (_req, res, body) => {
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ echo: JSON.parse(body) as unknown }));
};

/** A route source the test edits: `table.models[0].instances` is what the gateway sees next. */
function routesOf(instances: RouteInstance[]) {
  const table: RouteTable = {
    builtAtMs: Date.now(),
    models: [
      { name: 'm', deploymentId: 'd1', status: 'running', statusReason: null, createdAtMs: 0, instances },
    ],
  };
  const source: RouteSource = { get: async () => table, refresh: async () => table };
  return { table, source };
}

async function startGateway(
  routes: RouteSource,
  extra: Partial<ConstructorParameters<typeof FleetGateway>[0]> = {},
) {
  const gateway = new FleetGateway({
    routes,
    log: silentLog,
    maxBodyBytes: 64 * 1024,
    upstreamWaitMs: 300,
    ...extra,
  });
  const url = await listen((request, response) => {
    const path = (request.url ?? '/').split('?')[0]!;
    gateway.handle(request, response, path).catch((error: unknown) => sendError(response, error));
  });
  return { gateway, url };
}

/** Waits for a writable response to drain or close, leaving no listener behind. */
function drainedOrClosed(res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      res.off('drain', done).off('close', done);
      resolve();
    };
    res.on('drain', done).on('close', done);
  });
}

const chat = (model = 'm') => JSON.stringify({ model, messages: [{ role: 'user', content: 'hi' }] });
const post = (url: string, body: string, headers: Record<string, string> = {}) =>
  fetch(`${url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body,
  });

describe('FleetGateway', () => {
  it("never passes the client's key upstream; an external endpoint gets its own key; other headers pass", async () => {
    const seenAuth: (string | undefined)[] = [];
    const seenTrace: (string | undefined)[] = [];
    const recording: Script = (req, res, body) => {
      if (req.url?.startsWith('/v1/')) {
        seenAuth.push(req.headers.authorization);
        seenTrace.push(req.headers['x-trace-id'] as string | undefined);
      }
      ok(req, res, body);
    };
    const internal = await upstream(recording);
    const external = await upstream(recording);
    for (const [target, extra] of [
      [internal.url, {}],
      [external.url, { apiKey: 'upstream-secret' }],
    ] as const) {
      const { url } = await startGateway(routesOf([{ ...instance('i', target), ...extra }]).source);
      const headers = { authorization: 'Bearer client-edgefleet-key', 'X-Trace-Id': 'trace-7' };
      expect((await post(url, chat(), headers)).status).toBe(200);
    }
    expect(seenAuth).toEqual([undefined, 'Bearer upstream-secret']);
    expect(seenTrace).toEqual(['trace-7', 'trace-7']);
  });

  it('keeps the path prefix of an instance URL (an external endpoint under /team-a) on every request', async () => {
    const paths: string[] = [];
    const a = await upstream((req, res, body) => {
      paths.push(`${req.method} ${req.url}`);
      ok(req, res, req.method === 'GET' ? '{}' : body);
    });
    const { url, gateway } = await startGateway(routesOf([instance('a', `${a.url}/team-a`)]).source, {
      routing: defaultRoutingConfig({ healthCheck: { intervalMs: 50 } }),
    });
    gateway.start();
    try {
      expect((await post(url, chat())).status).toBe(200);
      await new Promise((resolve) => setTimeout(resolve, 120));
    } finally {
      await gateway.close();
    }
    expect(paths).toContain('POST /team-a/v1/chat/completions');
    expect(paths).toContain('GET /team-a/health');
    expect(paths.filter((p) => !p.includes(' /team-a/'))).toEqual([]);
  });

  it('sends a request again on a fresh connection when the upstream had closed the pooled one (llama-server)', async () => {
    const body = JSON.stringify({ choices: [], usage: { prompt_tokens: 1, completion_tokens: 1 } });
    const target = await oneRequestPerConnection('application/json', body);
    try {
      const { url, gateway } = await startGateway(routesOf([instance('a', target.url)]).source);
      for (let i = 0; i < 3; i++) expect((await post(url, chat())).status).toBe(200);
      // Each request after the first may meet a pooled connection the server resets (undici's pool may also
      // have opened a fresh one meanwhile); every reset must have been sent again, never refused.
      expect(target.counts().served).toBe(3);
      expect(target.counts().resets).toBeGreaterThanOrEqual(1);
      expect(await gateway.registry.metrics()).not.toMatch(/outcome="refused"/);
    } finally {
      await target.close();
    }
  });

  it('forwards to an instance of the model and says which one answered', async () => {
    // An instance that is itself an EdgeFleet gateway (an external endpoint) says where it sent the
    // request; the client learns what this gateway chose.
    const a = await upstream((req, res, body) => {
      res.setHeader('x-edgefleet-site', 'inner-site');
      res.setHeader('x-edgefleet-instance', 'inner-instance');
      ok(req, res, body);
    });
    const { url } = await startGateway(routesOf([instance('a', a.url, 'south')]).source);
    const response = await post(url, chat());
    expect(response.status).toBe(200);
    expect(response.headers.get('x-edgefleet-instance')).toBe('a');
    expect(response.headers.get('x-edgefleet-site')).toBe('south');
    expect(((await response.json()) as { echo: { model: string } }).echo.model).toBe('m');
    expect(a.seen).toHaveLength(1);
  });

  it('sends an instance with an upstream model name that name as model, and the others the one asked for', async () => {
    // A vLLM registered as an endpoint under another name refuses any model but its served one.
    const aliased = await upstream(ok);
    const plain = await upstream(ok);
    const { url } = await startGateway(
      routesOf([{ ...instance('vllm', aliased.url), upstreamModel: 'Qwen/Qwen2.5-7B-Instruct' }]).source,
    );
    const response = await post(url, chat());
    expect(response.status).toBe(200);
    expect(JSON.parse(aliased.seen[0]!)).toMatchObject({
      model: 'Qwen/Qwen2.5-7B-Instruct',
      messages: [{ role: 'user', content: 'hi' }],
    });
    const { url: plainUrl } = await startGateway(routesOf([instance('llama', plain.url)]).source);
    expect((await post(plainUrl, chat())).status).toBe(200);
    expect(JSON.parse(plain.seen[0]!)).toMatchObject({ model: 'm' });
  });

  it('percent-encodes a site name that is not printable ASCII in x-edgefleet-site', async () => {
    // node:http throws on a header value above U+00FF: a room named 北京 must not end the gateway.
    const a = await upstream(ok);
    const instances = [instance('a', a.url, '北京-1')];
    const { url } = await startGateway(routesOf(instances).source);
    for (const [site, header] of [
      ['北京-1', '%E5%8C%97%E4%BA%AC-1'],
      ['Zürich', 'Z%C3%BCrich'],
      ['room 100%', 'room%20100%25'],
    ] as const) {
      instances[0] = instance('a', a.url, site);
      const response = await post(url, chat());
      expect(response.status).toBe(200);
      expect(response.headers.get('x-edgefleet-site')).toBe(header);
      expect(decodeURIComponent(response.headers.get('x-edgefleet-site')!)).toBe(site);
      expect(((await response.json()) as { echo: { model: string } }).echo.model).toBe('m');
    }
  });

  it('sends concurrent requests to the instance with the fewest in flight', async () => {
    const slow: Script = (req, res, body) => void setTimeout(() => ok(req, res, body), 150);
    const a = await upstream(slow);
    const b = await upstream(slow);
    // The same prompt four times would stay on one instance by prefix affinity; this is about load.
    const { url } = await startGateway(routesOf([instance('a', a.url), instance('b', b.url)]).source, {
      routing: defaultRoutingConfig({ prefixAffinity: { enabled: false } }),
    });
    const answers = await Promise.all([1, 2, 3, 4].map(() => post(url, chat())));
    const used = answers.map((r) => r.headers.get('x-edgefleet-instance'));
    expect(used.filter((id) => id === 'a')).toHaveLength(2);
    expect(used.filter((id) => id === 'b')).toHaveLength(2);
  });

  it('retries on another instance when one refuses the connection or answers 5xx before the first byte', async () => {
    const dead = await refusingUrl();
    const failing = await upstream((_req, res) =>
      sendError(res, new EdgeFleetError('engine_unavailable', 'overloaded')),
    );
    const good = await upstream(ok);
    // Without prefix affinity the first request tries the instances in key order: dead, failing, good.
    const { url, gateway } = await startGateway(
      routesOf([instance('dead', dead), instance('failing', failing.url), instance('good', good.url)]).source,
      { routing: defaultRoutingConfig({ prefixAffinity: { enabled: false } }) },
    );
    for (let i = 0; i < 3; i++) {
      const response = await post(url, chat());
      expect(response.status).toBe(200);
      expect(response.headers.get('x-edgefleet-instance')).toBe('good');
    }
    const metrics = await gateway.registry.metrics();
    expect(metrics).toMatch(
      /edgefleet_gateway_upstream_attempts_total\{model="m",site="north",outcome="refused"\} [1-9]/,
    );
    expect(metrics).toMatch(/edgefleet_gateway_retries_total\{model="m"\} [1-9]/);
  });

  it('says why an unreachable instance refused without giving its address to the client', async () => {
    const dead = await refusingUrl();
    const { url } = await startGateway(routesOf([instance('dead', dead)]).source);
    const refused = await post(url, chat());
    expect(refused.status).toBe(503);
    const { message } = ((await refused.json()) as { error: { message: string } }).error;
    expect(message).toMatch(/not reachable \(connection refused\)/);
    expect(message).not.toContain(new URL(dead).port);
    // When to come back, as for an engine that is starting.
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
  });

  it('reads the routes again for a model name they lack, but not more than every 250 ms', async () => {
    const good = await upstream(ok);
    const { table } = routesOf([instance('a', good.url)]);
    let latest = table; // what reading the store again gives
    let held = table; // what the route source holds
    let refreshes = 0;
    const { url } = await startGateway({
      get: async () => held,
      refresh: async () => {
        refreshes += 1;
        return (held = latest);
      },
    });
    const started = Date.now();
    for (let i = 0; i < 20; i++) expect((await post(url, chat(`made-up-${i}`))).status).toBe(404);
    expect(refreshes).toBeLessThanOrEqual(1 + Math.ceil((Date.now() - started) / 250));
    // A deployment created since is found on the next read.
    await new Promise((resolve) => setTimeout(resolve, 300));
    latest = {
      ...table,
      models: [...table.models, { ...table.models[0]!, name: 'new-model', deploymentId: 'd-new' }],
    };
    expect((await post(url, chat('new-model'))).status).toBe(200);
  });

  it('reads the routes again when every listed instance refuses (a stale table), then serves', async () => {
    const dead = await refusingUrl(); // an instance removed since the table was read
    const good = await upstream(ok);
    const stale = routesOf([instance('removed', dead)]).table;
    const fresh = routesOf([instance('replacement', good.url)]).table;
    let current = stale;
    const { url } = await startGateway({
      get: async () => current,
      refresh: async () => (current = fresh),
    });
    const response = await post(url, chat());
    expect(response.status).toBe(200);
    expect(response.headers.get('x-edgefleet-instance')).toBe('replacement');
  });

  it('gives the last refusal to the client when every instance refuses', async () => {
    const failing = await upstream((_req, res) =>
      sendError(res, new EdgeFleetError('server_busy', 'all slots busy')),
    );
    const { url } = await startGateway(routesOf([instance('f', failing.url)]).source);
    const response = await post(url, chat());
    expect(response.status).toBe(429);
    const body = (await response.json()) as { error: { message: string } };
    expect(body.error.message).toMatch(/all slots busy/);
  });

  it('waits for an instance to appear (an engine restarting), then serves', async () => {
    const { table, source } = routesOf([]);
    const { url } = await startGateway(source, { upstreamWaitMs: 5000 });
    const good = await upstream(ok);
    setTimeout(() => table.models[0]!.instances.push(instance('late', good.url)), 400);
    const response = await post(url, chat());
    expect(response.status).toBe(200);
    expect(response.headers.get('x-edgefleet-instance')).toBe('late');
  });

  it('waits when the only listed instance cannot be reached (an engine that just died), then serves its successor', async () => {
    const dead = await refusingUrl();
    const { table, source } = routesOf([instance('dead', dead)]);
    const { url } = await startGateway(source, { upstreamWaitMs: 5000 });
    const good = await upstream(ok);
    // The control plane learns of the restart: the new engine is listed under its new address.
    setTimeout(() => (table.models[0]!.instances = [instance('restarted', good.url)]), 400);
    const response = await post(url, chat());
    expect(response.status).toBe(200);
    expect(response.headers.get('x-edgefleet-instance')).toBe('restarted');

    // An engine restarted on the same port (as process engines are) is tried again and serves.
    const port = Number(new URL(dead).port);
    const { source: samePort } = routesOf([instance('same', dead)]);
    const { url: samePortUrl } = await startGateway(samePort, { upstreamWaitMs: 5000 });
    setTimeout(() => {
      void listen((req, res) => {
        req.resume();
        req.on('end', () => ok(req, res, chat()));
      }, port);
    }, 600);
    const again = await post(samePortUrl, chat());
    expect(again.status).toBe(200);
    expect(again.headers.get('x-edgefleet-instance')).toBe('same');

    // Nothing comes: tried as its breaker lets it (1 s apart), the refusal comes as 503 once the breaker
    // opens (3 failures) for longer than the wait has left, about 2 s on.
    const { source: stuck } = routesOf([instance('dead', await refusingUrl())]);
    const { url: stuckUrl } = await startGateway(stuck, { upstreamWaitMs: 5000 });
    const started = Date.now();
    const refused = await post(stuckUrl, chat());
    expect(refused.status).toBe(503);
    expect(Date.now() - started).toBeGreaterThanOrEqual(1500);
    expect(Date.now() - started).toBeLessThan(4500);
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(8); // the open breaker's 10 s
  });

  it('does not send a request that reached the engine again when the engine drops it (it may be what crashed it)', async () => {
    let received = 0;
    const crashing = await upstream((req) => {
      received += 1;
      req.socket.destroy(); // read whole, then the connection is gone: an engine that died on this request
    });
    const { url } = await startGateway(routesOf([instance('only', crashing.url)]).source, {
      upstreamWaitMs: 10_000,
    });
    const started = Date.now();
    const response = await post(url, chat());
    expect(response.status).toBe(503);
    expect(Date.now() - started).toBeLessThan(1000);
    // Once, and once more only as a pooled connection the server may have closed (no answer at all).
    expect(received).toBeLessThanOrEqual(2);
  });

  it('does not wait for an engine that died with the request it had, nor call it unreachable', async () => {
    // The engine reads the request, drops the connection and is gone: the one send again (as for a pooled
    // connection the engine had closed) finds nothing listening. That refusal is no reason to wait and
    // send it a third time: the first send reached the engine.
    let received = 0;
    const dying = createServer((req) => {
      received += 1;
      req.resume();
      req.socket.destroy();
      dying.close();
    });
    dying.listen(0, '127.0.0.1');
    await once(dying, 'listening');
    const dyingUrl = `http://127.0.0.1:${(dying.address() as AddressInfo).port}`;
    const { url } = await startGateway(routesOf([instance('only', dyingUrl)]).source, {
      upstreamWaitMs: 10_000,
    });
    const started = Date.now();
    const response = await post(url, chat());
    expect(response.status).toBe(503);
    expect(Date.now() - started).toBeLessThan(2000);
    expect(received).toBe(1);
    expect(((await response.json()) as { error: { message: string } }).error.message).toMatch(
      /dropped the connection with the request, then was not reachable/,
    );
  });

  it('answers 503 with the deployment status when no instance runs within the wait', async () => {
    const { table, source } = routesOf([]);
    table.models[0]!.status = 'pending';
    table.models[0]!.statusReason = 'fits nowhere: needs 40 GB';
    const { url } = await startGateway(source);
    const response = await post(url, chat());
    expect(response.status).toBe(503);
    expect(response.headers.get('retry-after')).toBe('5');
    expect(((await response.json()) as { error: { message: string } }).error.message).toMatch(
      /fits nowhere.*retry after 5 s/,
    );
  });

  it('ends a stream that breaks after the first byte with an error event and no [DONE]', async () => {
    const breaking = await upstream((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write('data: {"choices":[{"delta":{"content":"he"}}]}\n\n');
      setTimeout(() => res.destroy(), 50);
    });
    const other = await upstream(ok);
    const { url } = await startGateway(
      routesOf([instance('x', breaking.url), instance('y', other.url)]).source,
    );
    // The first request goes to x (ties go round robin in key order); it must not be retried once it streamed.
    const response = await post(url, JSON.stringify({ model: 'm', stream: true, messages: [] }));
    const text = await response.text();
    expect(text).toContain('"content":"he"');
    expect(text).toMatch(/"error"/);
    expect(text).not.toContain('[DONE]');
    expect(other.seen).toHaveLength(0);
  });

  it("passes on the engine's own error event once, as a failed stream without [DONE]", async () => {
    // vLLM and SGLang report a failure mid-stream as an error event followed by their [DONE].
    const failing = await upstream((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write('data: {"choices":[{"delta":{"content":"he"}}]}\n\n');
      res.write(
        'data: {"error": {"message": "CUDA out of memory", "type": "InternalServerError", "code": 500}}\n\n',
      );
      res.end('data: [DONE]\n\n');
    });
    const events: UsageEvent[] = [];
    const { url } = await startGateway(routesOf([instance('x', failing.url)]).source, {
      recordUsage: async (event) => void events.push(event),
    });
    const response = await post(url, JSON.stringify({ model: 'm', stream: true, messages: [] }));
    const text = await response.text();
    expect(text).toContain('"content":"he"');
    expect(text.match(/"error"/g)).toHaveLength(1);
    expect(text).toContain('CUDA out of memory');
    expect(text).not.toContain('[DONE]');
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ status: 200, outcome: 'broken' });
  });

  it('retries an engine that dies after its headers and before any of its answer reached the client', async () => {
    // Status and headers sent at once (as vLLM's streaming responses do), then the engine dies in prefill;
    // the non-streamed one also sent the start of its body, which the gateway holds to read its usage.
    const dying = await upstream((_req, res, body) => {
      const stream = (JSON.parse(body) as { stream?: boolean }).stream === true;
      res.writeHead(200, { 'content-type': stream ? 'text/event-stream' : 'application/json' });
      if (stream) res.flushHeaders();
      else res.write('{"choices":[');
      setTimeout(() => res.destroy(), 30);
    });
    const streams: Script = (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write('data: {"choices":[{"delta":{"content":"fine"}}]}\n\n');
      res.end('data: [DONE]\n\n');
    };
    const healthy = await upstream((req, res, body) =>
      (JSON.parse(body) as { stream?: boolean }).stream === true
        ? streams(req, res, body)
        : ok(req, res, body),
    );
    // A fresh gateway per request: ties go round robin in key order, so each tries `x` (dying) first
    // (prefix affinity off: it would pick the owner of the prompt's prefix by the instances' ports).
    const routing = defaultRoutingConfig({ prefixAffinity: { enabled: false } });
    const through = async (body: string) => {
      const events: UsageEvent[] = [];
      const { url, gateway } = await startGateway(
        routesOf([instance('x', dying.url), instance('y', healthy.url)]).source,
        { routing, recordUsage: async (event) => void events.push(event) },
      );
      const reply = await post(url, body);
      const retries = await gateway.registry.getSingleMetric('edgefleet_gateway_retries_total')!.get();
      await gateway.close();
      return { reply, events, retries: retries.values[0]?.value };
    };
    const streamed = await through(JSON.stringify({ model: 'm', stream: true, messages: [] }));
    expect(streamed.reply.status).toBe(200);
    expect(streamed.reply.headers.get('x-edgefleet-instance')).toBe('y');
    const text = await streamed.reply.text();
    expect(text).toContain('"content":"fine"');
    expect(text).toContain('[DONE]');
    expect(text).not.toMatch(/"error"/);
    expect(streamed.retries).toBe(1);
    expect(streamed.events.map((e) => [e.instanceId, e.outcome])).toEqual([['y', 'ok']]);
    expect(dying.seen).toHaveLength(1);

    const held = await through(chat());
    expect(held.reply.status).toBe(200);
    expect(held.reply.headers.get('x-edgefleet-instance')).toBe('y');
    expect(await held.reply.json()).toMatchObject({ echo: { model: 'm' } });
    expect(held.retries).toBe(1);
    expect(held.events.map((e) => [e.instanceId, e.outcome])).toEqual([['y', 'ok']]);
    expect(dying.seen).toHaveLength(2);

    // With no other instance the client gets an error status, not a 200 that breaks.
    const alone = await startGateway(routesOf([instance('x', dying.url)]).source);
    const refused = await post(alone.url, JSON.stringify({ model: 'm', stream: true, messages: [] }));
    expect(refused.status).toBeGreaterThanOrEqual(500);
    expect(((await refused.json()) as { error: { message: string } }).error.message).toMatch(
      /stopped in the middle of the response, before any of its answer reached the client/,
    );
  });

  it('answers 503, not 404, while its route source has never loaded a table', async () => {
    const table: RouteTable = { builtAtMs: 0, models: [] };
    const source = { get: async () => table, refresh: async () => table, loaded: false };
    const { url } = await startGateway(source);
    const refused = await post(url, chat());
    expect(refused.status).toBe(503);
    expect(((await refused.json()) as { error: { code: string } }).error.code).toBe('store_unavailable');
    expect((await fetch(`${url}/v1/models`)).status).toBe(503);
    source.loaded = true; // loaded, and the model is not in it: it does not exist
    expect((await post(url, chat())).status).toBe(404);
    expect((await fetch(`${url}/v1/models`)).status).toBe(200);
  });

  it('answers HEAD /v1/models like GET without a body, and names both methods to others', async () => {
    const { url } = await startGateway(routesOf([]).source);
    for (const path of ['/v1/models', '/v1/models/m']) {
      const get = await fetch(`${url}${path}`);
      const body = await get.text();
      const head = await fetch(`${url}${path}`, { method: 'HEAD' });
      expect(head.status, path).toBe(200);
      expect(head.headers.get('content-type')).toBe(get.headers.get('content-type'));
      expect(head.headers.get('content-length')).toBe(String(Buffer.byteLength(body)));
      expect(await head.text()).toBe('');
    }
    expect((await fetch(`${url}/v1/models/nope`, { method: 'HEAD' })).status).toBe(404);
    const post = await fetch(`${url}/v1/models`, { method: 'POST', body: '{}' });
    expect(post.status).toBe(405);
    expect(post.headers.get('allow')).toBe('GET, HEAD');
  });

  it('answers a malformed percent-escape in a model id with 400, not 500', async () => {
    const { url } = await startGateway(routesOf([]).source);
    for (const id of ['%ZZ', '%E0%A4%A']) {
      const answer = await fetch(`${url}/v1/models/${id}`);
      expect(answer.status, id).toBe(400);
      expect(((await answer.json()) as { error: { code: string } }).error.code).toBe('invalid_request');
    }
    expect((await fetch(`${url}/v1/models/m`)).status).toBe(200);
    expect((await fetch(`${url}/v1/models/nope%20x`)).status).toBe(404);
  });

  it('refuses bad requests before choosing an instance', async () => {
    const a = await upstream(ok);
    const { url } = await startGateway(routesOf([instance('a', a.url)]).source);
    const cases: [string, number, string][] = [
      ['{"model": "m", "messages": [', 400, 'invalid_json'],
      ['[]', 400, 'invalid_request'],
      ['{"messages": []}', 400, 'invalid_request'],
      [chat('nope'), 404, 'model_not_found'],
    ];
    for (const [body, status, code] of cases) {
      const response = await post(url, body);
      expect(response.status).toBe(status);
      expect(((await response.json()) as { error: { code: string } }).error.code).toBe(code);
    }
    expect((await fetch(`${url}/v1/chat/completions`)).status).toBe(405);
    expect((await fetch(`${url}/v1/unknown`, { method: 'POST', body: '{}' })).status).toBe(404);
    // A compressed body is refused as such (it was "not valid UTF-8"); identity is no compression.
    const gzipped = await post(url, gzipSync(chat()).toString('latin1'), { 'content-encoding': 'gzip' });
    expect(gzipped.status).toBe(415);
    expect(((await gzipped.json()) as { error: { message: string } }).error.message).toBe(
      'content-encoding "gzip" is not supported; send the body uncompressed',
    );
    expect(a.seen).toHaveLength(0);
    expect((await post(url, chat(), { 'content-encoding': 'identity' })).status).toBe(200);
  });

  it('keeps a usage record a journal can hold for an unknown model with a very long name', async () => {
    const events: UsageEvent[] = [];
    const { url } = await startGateway(routesOf([]).source, {
      recordUsage: async (event) => void events.push(event),
    });
    const answer = await post(url, chat('x'.repeat(3000)));
    expect(answer.status).toBe(404);
    // The name comes back clipped, not as the whole name.
    expect(((await answer.json()) as { error: { message: string } }).error.message).toBe(
      `the model "${'x'.repeat(200)}… (3000 characters)" does not exist; available: m`,
    );
    expect(events).toHaveLength(1);
    expect(events[0]!.model).toBe('x'.repeat(256));
    expect(usageEventSchema.safeParse(events[0]).success).toBe(true);
  });

  it('checks API keys: 401 without one, models filtered by the allow-list, 403 and 429 from the limits', async () => {
    const withUsage: Script = (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ choices: [], usage: { prompt_tokens: 7, completion_tokens: 2 } }));
    };
    const a = await upstream(withUsage);
    const keys: Record<string, KeyPrincipal> = {
      good: testPrincipal('good', { allowedModels: ['m'] }),
      other: testPrincipal('other', { allowedModels: ['x'] }),
      ghost: testPrincipal('ghost', { allowedModels: ['x', 'gone'] }),
      tpm: testPrincipal('tpm', { tpm: 5 }),
    };
    const guard = new KeyGuard({
      lookup: async (secret) => keys[secret] ?? null,
      limiter: new LocalRateLimiter(),
    });
    const { table, source } = routesOf([instance('a', a.url)]);
    table.models.push({ ...table.models[0]!, name: 'x', deploymentId: 'd2' });
    const { url } = await startGateway(source, { guard });
    const as = (key: string) => ({ authorization: `Bearer ${key}` });
    expect((await fetch(`${url}/v1/models`)).status).toBe(401);
    expect((await post(url, chat(), as('nope'))).status).toBe(401);
    const list = async (key: string) =>
      (
        (await (await fetch(`${url}/v1/models`, { headers: as(key) })).json()) as {
          data: { id: string; meta: { instances: number; sites: string[] } }[];
        }
      ).data;
    expect((await list('good')).map((m) => m.id)).toEqual(['m']);
    expect((await list('good'))[0]!.meta).toMatchObject({ instances: 1, sites: ['north'] });
    expect((await list('other')).map((m) => m.id)).toEqual(['x']);
    const forbidden = await post(url, chat('m'), as('other'));
    expect(forbidden.status).toBe(403);
    expect(((await forbidden.json()) as { error: { param: string } }).error.param).toBe('model');
    // A model the key may use that does not exist: the 404 names only models that key may use.
    const missing = await post(url, chat('gone'), as('ghost'));
    expect(missing.status).toBe(404);
    expect(((await missing.json()) as { error: { message: string } }).error.message).toBe(
      'the model "gone" does not exist; available: x',
    );
    const anyKey = await post(url, chat('gone'), as('tpm'));
    expect(((await anyKey.json()) as { error: { message: string } }).error.message).toBe(
      'the model "gone" does not exist; available: m, x',
    );
    expect(a.seen).toHaveLength(0);
    // tpm 5: the first answer (9 tokens) is counted after it completes; the next request waits.
    expect((await post(url, chat(), as('tpm'))).status).toBe(200);
    await new Promise((resolve) => setTimeout(resolve, 50));
    const limited = await post(url, chat(), as('tpm'));
    expect(limited.status).toBe(429);
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(a.seen).toHaveLength(1);
  });

  it('moves a request still waiting on an instance that fails its health checks (a cut link)', async () => {
    let cut = false;
    const hanging = await upstream((req, res) => {
      if (req.url === '/health') {
        if (cut) res.destroy();
        else ok(req, res, '{}');
      }
      // Chat requests get no answer: the link went dead after the connection was made.
    });
    const good = await upstream((req, res, body) => ok(req, res, req.url === '/health' ? '{}' : body));
    const near = { ...instance('near', hanging.url, 'room-a'), region: 'region-a' };
    const far = { ...instance('far', good.url, 'room-b'), region: 'region-b' };
    const { url, gateway } = await startGateway(routesOf([near, far]).source, {
      upstreamWaitMs: 5000,
      routing: defaultRoutingConfig({
        prefixAffinity: { enabled: false },
        healthCheck: { intervalMs: 100, timeoutMs: 200, unhealthyAfter: 1 },
      }),
    });
    gateway.start();
    try {
      const answer = post(url, chat(), { 'x-edgefleet-region': 'region-a' });
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(hanging.seen.some((body) => body.includes('"messages"'))).toBe(true);
      cut = true;
      const response = await answer;
      expect(response.status).toBe(200);
      expect(response.headers.get('x-edgefleet-instance')).toBe('far');
    } finally {
      await gateway.close();
    }
  });

  it('does not hold clients that leave before the first byte against the instance, and meters them', async () => {
    const slow: Script = (req, res, body) => void setTimeout(() => ok(req, res, body), 300);
    const a = await upstream(slow);
    const events: UsageEvent[] = [];
    const { url, gateway } = await startGateway(routesOf([instance('a', a.url)]).source, {
      recordUsage: async (event) => void events.push(event),
    });
    for (let i = 0; i < 4; i++) {
      const abort = new AbortController();
      setTimeout(() => abort.abort(), 50);
      await expect(
        fetch(`${url}/v1/chat/completions`, { method: 'POST', body: chat(), signal: abort.signal }),
      ).rejects.toThrow();
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
    const started = Date.now();
    expect((await post(url, chat())).status).toBe(200);
    expect(Date.now() - started).toBeLessThan(2000); // no breaker open, no wait for another instance
    const metrics = await gateway.registry.metrics();
    expect(metrics).toMatch(
      /edgefleet_gateway_upstream_attempts_total\{model="m",site="north",outcome="aborted"\} 4/,
    );
    expect(metrics).not.toMatch(/outcome="refused"/);
    expect(metrics).toMatch(/edgefleet_gateway_requests_total\{[^}]*status="499"\} 4/);
    expect(metrics).toMatch(/edgefleet_gateway_requests_total\{[^}]*status="200"\} 1/);
    expect(events.map((e) => [e.status, e.outcome, e.instanceId])).toEqual([
      ...Array.from({ length: 4 }, () => [499, 'aborted', 'a']),
      [200, 'ok', 'a'],
    ]);
  });

  it("charges a non-streamed request whose client left the instance's likely work, so a budget cannot be dodged", async () => {
    const slow: Script = (req, res, body) => void setTimeout(() => ok(req, res, body), 2000);
    const a = await upstream(slow);
    const user = testPrincipal('k1', { tokenBudget: 20 });
    const guard = new KeyGuard({ lookup: async () => user, limiter: new LocalRateLimiter() });
    const events: UsageEvent[] = [];
    const { url } = await startGateway(routesOf([instance('a', a.url)]).source, {
      guard,
      recordUsage: async (event) => void events.push(event),
      routing: defaultRoutingConfig({
        measurement: { defaultTimePerOutputTokenMs: 10, defaultTimePerPromptTokenMs: 0.5 },
      }),
    });
    await leaveAfter(url, 500);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(events).toHaveLength(1);
    const [left] = events;
    expect(left).toMatchObject({ status: 499, outcome: 'aborted', instanceId: 'a', usageEstimated: true });
    expect(left!.promptTokens).toBeGreaterThan(0);
    // About 500 ms at 10 ms a token, less the prompt's few milliseconds.
    expect(left!.completionTokens).toBeGreaterThanOrEqual(40);
    expect(left!.completionTokens).toBeLessThanOrEqual(55);
    const next = await fetch(`${url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: 'Bearer secret' },
      body: chat(),
    });
    expect(next.status).toBe(429);
    expect(await next.text()).toMatch(/token budget/);
  });

  it('sends nothing upstream for a client that left while its key was being admitted, and meters it', async () => {
    const a = await upstream(ok);
    let admitting = 0;
    const slowLimiter = new LocalRateLimiter();
    const take = slowLimiter.take.bind(slowLimiter);
    slowLimiter.take = async (...args) => {
      admitting += 1;
      await new Promise((resolve) => setTimeout(resolve, 300)); // a Redis far away
      return take(...args);
    };
    const user = testPrincipal('k1', { rpm: 100 });
    const guard = new KeyGuard({ lookup: async () => user, limiter: slowLimiter });
    const events: UsageEvent[] = [];
    const { url } = await startGateway(routesOf([instance('a', a.url)]).source, {
      guard,
      recordUsage: async (event) => void events.push(event),
    });
    await leaveAfter(url, 100);
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(admitting).toBeGreaterThan(0);
    expect(a.seen).toEqual([]);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({
      keyId: 'k1',
      model: 'm',
      status: 499,
      outcome: 'aborted',
      instanceId: null,
    });
  });

  it("answers an unknown model 404 without counting it toward the key's rpm", async () => {
    const a = await upstream(ok);
    const user = testPrincipal('k1', { rpm: 2, allowedModels: ['m', 'other'] });
    const guard = new KeyGuard({ lookup: async () => user, limiter: new LocalRateLimiter() });
    const { url, gateway } = await startGateway(routesOf([instance('a', a.url)]).source, { guard });
    const ask = (model: string) =>
      fetch(`${url}/v1/chat/completions`, {
        method: 'POST',
        headers: { authorization: 'Bearer secret' },
        body: JSON.stringify({ model, messages: [{ role: 'user', content: 'x' }] }),
      });
    for (let i = 0; i < 3; i++) expect((await ask('other')).status).toBe(404);
    // A model the key may not use is 403 whether it exists or not (its existence is not told).
    expect((await ask('no-such-model')).status).toBe(403);
    expect((await ask('m')).status).toBe(200);
    expect((await ask('m')).status).toBe(200);
    expect((await ask('m')).status).toBe(429);
    // The 429 of a served model names it in the metrics; a name no deployment has never becomes a label.
    const metrics = await gateway.registry.metrics();
    expect(metrics).toMatch(/edgefleet_gateway_requests_total\{[^}]*model="m"[^}]*status="429"\} 1/);
    expect(metrics).not.toContain('no-such-model');
    expect(metrics).not.toMatch(/model="other"/);
  });

  it('cancels the upstream request at once when the client goes away', async () => {
    let upstreamClosed = false;
    const hanging = await upstream((req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write('data: {}\n\n');
      res.on('close', () => (upstreamClosed = true));
    });
    const { url } = await startGateway(routesOf([instance('h', hanging.url)]).source);
    const abort = new AbortController();
    const response = await fetch(`${url}/v1/chat/completions`, {
      method: 'POST',
      body: JSON.stringify({ model: 'm', stream: true, messages: [] }),
      signal: abort.signal,
    });
    await response.body!.getReader().read();
    abort.abort();
    const deadline = Date.now() + 2000;
    while (!upstreamClosed && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(upstreamClosed).toBe(true);
  });

  it('makes a fast stream wait for a client that reads nothing, then cuts that client off after the idle timeout', async () => {
    // 64 KiB text events, up to 256 MiB, written as fast as the gateway takes them.
    const event = Buffer.from(
      `data: ${JSON.stringify({ choices: [{ index: 0, delta: { content: 'x'.repeat(64 * 1024) } }] })}\n\n`,
    );
    let written = 0;
    let upstreamClosed = false;
    const fast = await upstream(async (_req, res) => {
      res.on('close', () => (upstreamClosed = true));
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      while (written < 256 * 1024 * 1024 && !res.destroyed) {
        written += event.length;
        if (!res.write(event)) await drainedOrClosed(res);
      }
      res.end('data: [DONE]\n\n');
    });
    const { url } = await startGateway(routesOf([instance('f', fast.url)]).source, {
      routing: defaultRoutingConfig({ timeouts: { firstByteMs: 5000, idleMs: 2500 } }),
    });
    const { port } = new URL(url);
    const body = JSON.stringify({ model: 'm', stream: true, messages: [] });
    const client = connect(Number(port), '127.0.0.1');
    client.pause(); // never reads
    client.write(
      `POST /v1/chat/completions HTTP/1.1\r\nhost: gw\r\ncontent-type: application/json\r\n` +
        `content-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
    );
    await new Promise((resolve) => setTimeout(resolve, 1500));
    // Socket buffers on two loopback hops hold some megabytes; without backpressure the gateway reads it all.
    expect(written).toBeGreaterThan(0);
    expect(written).toBeLessThan(64 * 1024 * 1024);
    expect(upstreamClosed).toBe(false);
    // The client stays connected and still reads nothing: after 2.5 s without progress it is cut off.
    const deadline = Date.now() + 4000;
    while (!upstreamClosed && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(upstreamClosed).toBe(true);
    expect(client.destroyed).toBe(false);
    client.destroy();
  });

  it('relays a whole stream to a client that reads in bursts, pausing the engine many times', async () => {
    const event = Buffer.from(
      `data: ${JSON.stringify({ choices: [{ index: 0, delta: { content: 'y'.repeat(64 * 1024) } }] })}\n\n`,
    );
    const events = 512; // 32 MiB
    const fast = await upstream(async (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      for (let i = 0; i < events && !res.destroyed; i++) {
        if (!res.write(event)) await drainedOrClosed(res);
      }
      res.end('data: [DONE]\n\n');
    });
    const warnings: string[] = [];
    const onWarning = (warning: Error) => warnings.push(`${warning.name}: ${warning.message}`);
    process.on('warning', onWarning);
    try {
      const { url } = await startGateway(routesOf([instance('f', fast.url)]).source);
      const { port } = new URL(url);
      const body = JSON.stringify({ model: 'm', stream: true, messages: [] });
      const client = connect(Number(port), '127.0.0.1');
      let received = '';
      client.setEncoding('latin1').on('data', (text: string) => (received += text));
      client.write(
        `POST /v1/chat/completions HTTP/1.1\r\nhost: gw\r\ncontent-type: application/json\r\n` +
          `content-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
      );
      // Read 5 ms of every 25: the gateway's writes back up and the engine is paused again and again.
      const deadline = Date.now() + 20_000;
      while (!received.endsWith('data: [DONE]\n\n\r\n0\r\n\r\n') && Date.now() < deadline) {
        client.pause();
        await new Promise((resolve) => setTimeout(resolve, 20));
        client.resume();
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      client.destroy();
      expect(received.split('"content":"y').length - 1).toBe(events);
      expect(received).toMatch(/data: \[DONE\]\n\n\r\n0\r\n\r\n$/);
      // A listener per pause would pile up on the client's response.
      expect(warnings.filter((w) => w.startsWith('MaxListenersExceededWarning'))).toEqual([]);
    } finally {
      process.off('warning', onWarning);
    }
  });

  describe('metering', () => {
    /** An engine that streams two tokens and, when asked, a usage-only chunk. */
    const streaming: Script = (_req, res, body) => {
      const request = JSON.parse(body) as { stream_options?: { include_usage?: boolean } };
      // Asked for usage, every chunk carries `"usage": null` (OpenAI's and the embedded engine's way).
      const usage = request.stream_options?.include_usage ? ',"usage":null' : '';
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write(`data: {"choices":[{"index":0,"delta":{"content":"he"}}]${usage}}\n\n`);
      setTimeout(() => {
        res.write(`data: {"choices":[{"index":0,"delta":{"content":"llo"}}]${usage}}\n\n`);
        if (request.stream_options?.include_usage) {
          res.write(
            'data: {"choices":[],"usage":{"prompt_tokens":7,"completion_tokens":2,"total_tokens":9}}\n\n',
          );
        }
        res.end('data: [DONE]\n\n');
      }, 30);
    };

    it('asks the engine for usage, journals it before [DONE], and hides the usage chunk the client did not ask for', async () => {
      const engine = await upstream(streaming);
      const events: UsageEvent[] = [];
      let releaseJournal: () => void = () => undefined;
      const { url } = await startGateway(routesOf([instance('a', engine.url)]).source, {
        recordUsage: (event) =>
          new Promise<void>((resolve) => {
            events.push(event);
            releaseJournal = resolve;
          }),
      });
      const response = await post(url, JSON.stringify({ model: 'm', stream: true, messages: [] }));
      const reader = response.body!.getReader();
      let text = '';
      while (events.length === 0) text += new TextDecoder().decode((await reader.read()).value);
      // The journal has the record but has not confirmed it: the client has the tokens, not [DONE].
      expect(text).toContain('"llo"');
      expect(text).not.toContain('[DONE]');
      releaseJournal();
      for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) {
        text += new TextDecoder().decode(chunk.value);
      }
      expect(text).toMatch(/data: \[DONE\]\n\n$/);
      expect(text).not.toContain('usage');
      expect(JSON.parse(engine.seen[0]!)).toMatchObject({ stream_options: { include_usage: true } });
      expect(events[0]).toMatchObject({
        keyId: 'anonymous',
        model: 'm',
        instanceId: 'a',
        siteName: 'north',
        promptTokens: 7,
        completionTokens: 2,
        status: 200,
        outcome: 'ok',
        usageEstimated: false,
      });
      expect(events[0]!.ttftMs).toBeGreaterThanOrEqual(0);
      expect(events[0]!.durationMs).toBeGreaterThanOrEqual(events[0]!.ttftMs!);
    });

    it('asks for usage whatever stream_options the client sent, and shows none it did not ask for', async () => {
      const engine = await upstream(streaming);
      const events: UsageEvent[] = [];
      const { url } = await startGateway(routesOf([instance('a', engine.url)]).source, {
        recordUsage: async (event) => void events.push(event),
      });
      for (const options of [null, {}, { include_usage: false }]) {
        const body = { model: 'm', stream: true, stream_options: options, messages: [] };
        const text = await (await post(url, JSON.stringify(body))).text();
        expect(text).toContain('"llo"');
        expect(text, JSON.stringify(options)).not.toContain('usage');
        expect(JSON.parse(engine.seen.at(-1)!)).toMatchObject({ stream_options: { include_usage: true } });
        expect(events.at(-1)).toMatchObject({ promptTokens: 7, completionTokens: 2, usageEstimated: false });
      }
    });

    it('passes the usage chunk through when the client asked for it', async () => {
      const engine = await upstream(streaming);
      const { url } = await startGateway(routesOf([instance('a', engine.url)]).source, {
        recordUsage: async () => undefined,
      });
      const body = { model: 'm', stream: true, stream_options: { include_usage: true }, messages: [] };
      const text = await (await post(url, JSON.stringify(body))).text();
      expect(text).toContain('"prompt_tokens":7');
      expect(text).toContain('"usage":null'); // asked for: as the engine sent it
    });

    it('counts streamed chunks when the engine reports no usage, and meters errors and broken streams', async () => {
      const bare: Script = (_req, res) => {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.write('data: {"choices":[{"index":0,"delta":{"content":"a"}}]}\n\n');
        res.write('data: {"choices":[{"index":0,"delta":{"content":"b"}}]}\n\n');
        res.write('data: {"choices":[{"index":0,"delta":{"content":"c"}}]}\n\n');
        res.end('data: [DONE]\n\n');
      };
      const engine = await upstream(bare);
      const events: UsageEvent[] = [];
      const { url } = await startGateway(routesOf([instance('a', engine.url)]).source, {
        recordUsage: async (event) => void events.push(event),
      });
      await (await post(url, JSON.stringify({ model: 'm', stream: true, messages: [] }))).text();
      expect(events[0]).toMatchObject({
        completionTokens: 3,
        promptTokens: 3, // no message: only the reply the template opens
        usageEstimated: true,
        outcome: 'ok',
      });
      await (await post(url, chat('nope'))).text();
      expect(events[1]).toMatchObject({ model: 'nope', status: 404, outcome: 'error', instanceId: null });
    });

    it('records a request the instances refused under the instance and site that refused it last', async () => {
      const failing = await upstream((_req, res) => {
        res.writeHead(500, { 'content-type': 'application/json' });
        res.end('{"error":{"message":"scripted"}}');
      });
      const events: UsageEvent[] = [];
      const { url } = await startGateway(routesOf([instance('a', failing.url)]).source, {
        recordUsage: async (event) => void events.push(event),
      });
      expect((await post(url, chat())).status).toBeGreaterThanOrEqual(500);
      expect(events).toHaveLength(1);
      expect(events[0]).toMatchObject({ outcome: 'error', instanceId: 'a', siteName: 'north' });
    });

    it('estimates the usage of a JSON answer without one (no tokenizer API) and gives it to the client', async () => {
      const content = 'Hello there! 你好'; // 13 + 6 bytes
      const engine = await upstream((req, res) => {
        if (!req.url?.startsWith('/v1/')) {
          res.writeHead(404).end(); // no /tokenize, no /apply-template
          return;
        }
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ object: 'chat.completion', choices: [{ index: 0, message: { content } }] }));
      });
      const events: UsageEvent[] = [];
      const { url } = await startGateway(routesOf([instance('a', engine.url)]).source, {
        recordUsage: async (event) => void events.push(event),
      });
      const messages = [
        { role: 'system', content: 'Be brief.' }, // 9 bytes: 3 tokens
        { role: 'user', content: [{ type: 'text', text: 'Say hello in two languages' }] }, // 26: 7
      ];
      const answer = (await (await post(url, JSON.stringify({ model: 'm', messages }))).json()) as {
        choices: unknown[];
        usage: unknown;
      };
      // prompt: 3 (reply) + 2 × 4 (messages) + 3 + 7; completion: ceil(19 / 4)
      expect(answer.usage).toEqual({ prompt_tokens: 21, completion_tokens: 5, total_tokens: 26 });
      expect(answer.choices).toHaveLength(1);
      expect(events[0]).toMatchObject({ promptTokens: 21, completionTokens: 5, usageEstimated: true });

      // A text completion with several prompts, one of them token ids.
      await post(url, JSON.stringify({ model: 'm', prompt: ['abcdefgh', [1, 2, 3]] }));
      expect(events[1]).toMatchObject({ promptTokens: 5, completionTokens: 5, usageEstimated: true });
    });

    it('sends embeddings on to an instance that serves them when one answers 501, and remembers', async () => {
      const chatOnly = await upstream((_req, res) => {
        res.writeHead(501, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: { code: 'not_implemented', message: 'no embeddings here' } }));
      });
      let embedderFails = false;
      const embedder = await upstream((_req, res) => {
        if (embedderFails) return sendError(res, new EdgeFleetError('engine_unavailable', 'overloaded'));
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ object: 'list', data: [], usage: { prompt_tokens: 2, total_tokens: 2 } }));
      });
      const embed = (url: string) =>
        fetch(`${url}/v1/embeddings`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ model: 'm', input: 'hi' }),
        });
      // Three chat-only instances and one that serves embeddings: the default 3 attempts would run out
      // on the chat instances if a 501 spent one.
      const both = await startGateway(
        routesOf([
          instance('chat', chatOnly.url),
          instance('chat-2', chatOnly.url),
          instance('chat-3', chatOnly.url),
          instance('embed', embedder.url),
        ]).source,
      );
      for (let i = 0; i < 12; i++) {
        const answer = await embed(both.url);
        expect(answer.status).toBe(200);
        expect(answer.headers.get('x-edgefleet-instance')).toBe('embed');
      }
      // Tried, and passed over; remembered: each chat-only instance is asked once, not on every request.
      expect(chatOnly.seen.length).toBeGreaterThan(0);
      expect(chatOnly.seen.length).toBeLessThanOrEqual(3);
      // The embeddings server failing: the client hears of that failure (503, retryable), not of the
      // chat instances asked after it that do not serve embeddings (501).
      embedderFails = true;
      const failed = await embed(both.url);
      expect(failed.status).toBe(503);
      expect(await failed.text()).toContain('overloaded');
      embedderFails = false;
      const metrics = await both.gateway.registry.metrics();
      expect(metrics).not.toMatch(/edgefleet_gateway_circuit_open\{[^}]*\} 1/);
      // With no instance that serves them, the client gets the engine's 501, every time: a 501 is no
      // failure of the instance (its breaker stays closed).
      const alone = await startGateway(routesOf([instance('chat', chatOnly.url)]).source);
      for (let i = 0; i < 8; i++) {
        const refused = await embed(alone.url);
        expect(refused.status).toBe(501);
        expect(await refused.text()).toContain('no embeddings here');
      }
    });

    it('meters an embeddings answer, whose usage has no completion_tokens', async () => {
      const engine = await upstream((_req, res) => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(
          JSON.stringify({
            object: 'list',
            data: [{ object: 'embedding', index: 0, embedding: [0.1, 0.2] }],
            usage: { prompt_tokens: 8, total_tokens: 8 },
          }),
        );
      });
      const events: UsageEvent[] = [];
      const { url } = await startGateway(routesOf([instance('a', engine.url)]).source, {
        recordUsage: async (event) => void events.push(event),
      });
      const response = await fetch(`${url}/v1/embeddings`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'm', input: 'the quick brown fox' }),
      });
      expect(response.status).toBe(200);
      expect(((await response.json()) as { data: unknown[] }).data).toHaveLength(1);
      expect(engine.seen.map((body) => JSON.parse(body) as unknown)).toEqual([
        { model: 'm', input: 'the quick brown fox' },
      ]);
      expect(events).toHaveLength(1);
      expect(events[0]).toMatchObject({
        route: '/v1/embeddings',
        promptTokens: 8,
        completionTokens: 0,
        usageEstimated: false,
        outcome: 'ok',
      });
    });

    it('still answers when the journal cannot write, and counts the lost record', async () => {
      const engine = await upstream(ok);
      const { url, gateway } = await startGateway(routesOf([instance('a', engine.url)]).source, {
        recordUsage: () => Promise.reject(new Error('ENOSPC: no space left on device')),
      });
      const response = await post(url, chat());
      expect(response.status).toBe(200);
      expect(await gateway.registry.metrics()).toMatch(/edgefleet_gateway_usage_journal_errors_total 1/);
    });
  });
});

describe('FleetGateway scale to zero', () => {
  it('activates a deployment scaled to zero, waits for it, and answers 503 with retry-after in vain', async () => {
    const { table, source } = routesOf([]);
    Object.assign(table.models[0]!, {
      status: 'pending',
      statusReason: 'scaled to zero; starts on the next request',
      scaledToZero: true,
      idleTimeoutMs: 60_000,
    });
    const activated: string[] = [];
    const { url } = await startGateway(source, {
      activate: async (id) => {
        activated.push(id);
      },
    });
    const refused = await post(url, chat());
    expect(refused.status).toBe(503);
    expect(refused.headers.get('retry-after')).toBe('5');
    expect(((await refused.json()) as { error: { message: string } }).error.message).toMatch(
      /starting from zero/,
    );
    expect(activated).toEqual(['d1']);

    // Started meanwhile: the next request is served, and reports itself (throttled: no second call yet).
    const up = await upstream(ok);
    table.models[0]!.instances = [instance('a', up.url)];
    delete table.models[0]!.scaledToZero;
    const served = await post(url, chat());
    expect(served.status).toBe(200);
    expect(activated).toEqual(['d1']);
  });

  it('answers 503 with retry-after at once, still starting the deployment, when it may not wait (--upstream-wait-ms 0)', async () => {
    const { table, source } = routesOf([]);
    Object.assign(table.models[0]!, { status: 'pending', scaledToZero: true, idleTimeoutMs: 60_000 });
    let refreshes = 0;
    const counting: RouteSource = { get: source.get, refresh: () => ((refreshes += 1), source.refresh()) };
    const activated: string[] = [];
    const { url } = await startGateway(counting, {
      upstreamWaitMs: 0,
      activate: async (id) => void activated.push(id),
    });
    const refused = await post(url, chat());
    expect(refused.status).toBe(503);
    expect(refused.headers.get('retry-after')).toBe('5');
    expect(refreshes).toBe(0); // it did not poll the routes for an instance to come up
    expect(activated).toEqual(['d1']);
  });

  it('is served by an instance that comes up within the wait, and never activates a fixed deployment', async () => {
    const { table, source } = routesOf([]);
    Object.assign(table.models[0]!, { scaledToZero: true, idleTimeoutMs: 60_000 });
    const up = await upstream(ok);
    const activated: string[] = [];
    const { url } = await startGateway(source, {
      upstreamWaitMs: 5000,
      activate: async (id) => {
        activated.push(id);
        setTimeout(() => {
          table.models[0]!.instances = [instance('cold', up.url)];
          delete table.models[0]!.scaledToZero;
        }, 300);
      },
    });
    const response = await post(url, chat());
    expect(response.status).toBe(200);
    expect(response.headers.get('x-edgefleet-instance')).toBe('cold');
    expect(activated).toEqual(['d1']);

    const fixed = routesOf([instance('b', up.url)]);
    const calls: string[] = [];
    const other = await startGateway(fixed.source, { activate: async (id) => void calls.push(id) });
    expect((await post(other.url, chat())).status).toBe(200);
    expect(calls).toEqual([]);
  });
});
