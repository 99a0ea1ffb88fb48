import type { IncomingMessage, ServerResponse } from 'node:http';
import OpenAI from 'openai';
import { afterEach, describe, expect, it } from 'vitest';
import { FleetGateway } from '../../src/gateway/fleet-gateway.js';
import { defaultRoutingConfig } from '../../src/gateway/routing/routing-config.js';
import { sendError } from '../../src/http/respond.js';
import type { RouteInstance, RouteTable } from '../../src/spec/route-table.js';
import type { UsageEvent } from '../../src/spec/usage-event.js';
import { createLogger } from '../../src/telemetry/logger.js';
import { closeServers, listen } from '../helpers/http-servers.js';
import { metricValue } from '../helpers/edgefleet-process.js';

/**
 * Engines that misbehave without dying, behind the gateway: one that accepts and never answers, one that
 * answers 200 and then sends no event, one that stops in the middle of a stream, and ones that answer
 * garbage (a 200 that is not JSON, a stream of junk without `[DONE]`). The gateway's timeouts and circuit
 * breaker must fire, and each client must get a clear error (or another instance's answer), never a hang
 * or a broken answer passed off as a good one.
 */
const log = createLogger('test');
log.level = 'silent';
const gateways: FleetGateway[] = [];
afterEach(async () => {
  for (const gateway of gateways.splice(0)) await gateway.close();
  await closeServers();
});

type Behaviour = (request: IncomingMessage, response: ServerResponse, body: Record<string, unknown>) => void;

/** An engine; `/health` always answers 200 (these engines look alive), the API does what `behaviour` says. */
async function engine(behaviour: Behaviour) {
  let hits = 0;
  const url = await listen((request, response) => {
    if (request.url === '/health') {
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end('{"status":"ok"}');
      return;
    }
    let raw = '';
    request.setEncoding('utf8').on('data', (chunk: string) => (raw += chunk));
    request.on('end', () => {
      if (!request.url?.startsWith('/v1/')) {
        response.writeHead(404).end();
        return;
      }
      hits += 1;
      behaviour(request, response, JSON.parse(raw) as Record<string, unknown>);
    });
  });
  return { url, hits: () => hits };
}

const good: Behaviour = (_request, response, body) => {
  if (body['stream'] === true) {
    response.writeHead(200, { 'content-type': 'text/event-stream' });
    response.write('data: {"choices":[{"index":0,"delta":{"content":"fine"}}]}\n\n');
    response.write('data: {"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\n');
    response.end('data: [DONE]\n\n');
    return;
  }
  response.writeHead(200, { 'content-type': 'application/json' });
  response.end(
    JSON.stringify({
      id: 'c1',
      object: 'chat.completion',
      created: 1,
      model: 'm',
      choices: [{ index: 0, message: { role: 'assistant', content: 'fine' }, finish_reason: 'stop' }],
      usage: { prompt_tokens: 3, completion_tokens: 1, total_tokens: 4 },
    }),
  );
};
const silent: Behaviour = () => undefined; // accepts the request and never answers
const stallsMidStream: Behaviour = (_request, response) => {
  response.writeHead(200, { 'content-type': 'text/event-stream' });
  response.write('data: {"choices":[{"index":0,"delta":{"content":"half"}}]}\n\n');
  // …and nothing more, the connection held open.
};
const quietFromStart: Behaviour = (_request, response) => {
  response.writeHead(200, { 'content-type': 'text/event-stream' });
  response.flushHeaders();
  // …and no event at all (an engine stuck in prefill), the connection held open.
};
const htmlGarbage: Behaviour = (_request, response) => {
  response.writeHead(200, { 'content-type': 'application/json' });
  response.end('<html><body>502 Bad Gateway (from some proxy)</body></html>');
};
const streamGarbage: Behaviour = (_request, response) => {
  response.writeHead(200, { 'content-type': 'text/event-stream' });
  response.write('data: {"choices":[{"index":0,"delta":{"content":"ok so far"}}]}\n\n');
  response.end(': a comment\nnot-a-field\n\n');
};

function instance(id: string, url: string): RouteInstance {
  return {
    id,
    url,
    deploymentId: 'd',
    nodeId: id,
    nodeName: id,
    siteId: 's',
    siteName: 'room',
    region: null,
  };
}

async function gatewayFor(instances: RouteInstance[], events: UsageEvent[] = []) {
  const table: RouteTable = {
    builtAtMs: Date.now(),
    models: [
      { name: 'm', deploymentId: 'd', status: 'running', statusReason: null, createdAtMs: 0, instances },
    ],
  };
  const gateway = new FleetGateway({
    routes: { get: async () => table, refresh: async () => table },
    log,
    maxBodyBytes: 64 * 1024,
    upstreamWaitMs: 200,
    recordUsage: async (event) => void events.push(event),
    routing: defaultRoutingConfig({
      timeouts: { firstByteMs: 400, idleMs: 400 },
      circuitBreaker: { failureThreshold: 2, openMs: 60_000 },
      prefixAffinity: { enabled: false },
      retry: { budgetMinRetries: 100 },
      healthCheck: { enabled: false },
    }),
  });
  gateways.push(gateway);
  const url = await listen((request, response) => {
    gateway.handle(request, response, (request.url ?? '/').split('?')[0]!).catch((error: unknown) => {
      sendError(response, error);
    });
  });
  return {
    gateway,
    client: new OpenAI({ baseURL: `${url}/v1`, apiKey: 'x', maxRetries: 0, timeout: 10_000 }),
  };
}

const messages = [{ role: 'user' as const, content: 'hi' }];

describe('engines that stall or answer garbage', () => {
  it('moves requests off an engine that never answers, and keeps them off it', async () => {
    const stalled = await engine(silent);
    const healthy = await engine(good);
    const { client, gateway } = await gatewayFor([
      instance('stalled', stalled.url),
      instance('healthy', healthy.url),
    ]);
    const started = Date.now();
    const answers: { text: string | null | undefined; ms: number; instance: string | null }[] = [];
    for (let i = 0; i < 6; i++) {
      const t0 = Date.now();
      const { data, response } = await client.chat.completions
        .create({ model: 'm', messages })
        .withResponse();
      answers.push({
        text: data.choices[0]?.message.content,
        ms: Date.now() - t0,
        instance: response.headers.get('x-edgefleet-instance'),
      });
    }
    // Every request is answered by the healthy engine; one that tried the stalled engine first waited
    // about the first-byte timeout (400 ms) and was moved; the router then keeps away from the stalled one.
    for (const answer of answers) expect(answer).toMatchObject({ text: 'fine', instance: 'healthy' });
    expect(stalled.hits()).toBeGreaterThanOrEqual(1);
    expect(answers.filter((a) => a.ms >= 350)).toHaveLength(stalled.hits());
    expect(Date.now() - started).toBeLessThan(3_000);
    expect(metricValue(await gateway.registry.metrics(), 'edgefleet_gateway_retries_total')).toBe(
      stalled.hits(),
    );
  });

  it('gives a clear 503 when the only engine never answers, and does not wait on it again', async () => {
    const stalled = await engine(silent);
    const { client, gateway } = await gatewayFor([instance('stalled', stalled.url)]);
    const attempt = async () => {
      const t0 = Date.now();
      const error = await client.chat.completions.create({ model: 'm', messages }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(OpenAI.APIError);
      expect((error as InstanceType<typeof OpenAI.APIError>).status).toBe(503);
      return { message: (error as Error).message, ms: Date.now() - t0 };
    };
    const first = await attempt();
    expect(first.message).toMatch(/no answer within 400 ms/);
    expect(first.ms).toBeGreaterThanOrEqual(350);
    // The timeout counted against the engine's breaker: the next request is not sent to it and does not
    // wait the timeout out again; it gets 503 at once (after the short upstream wait for another instance).
    const second = await attempt();
    expect(second.message).toMatch(/failing|circuit/);
    expect(second.ms).toBeLessThan(350);
    expect(stalled.hits()).toBe(1);
    expect(metricValue(await gateway.registry.metrics(), 'edgefleet_gateway_upstream_attempts_total')).toBe(
      1,
    );
  });

  it('ends a stream that goes quiet with an error event after the idle timeout', async () => {
    const quiet = await engine(stallsMidStream);
    const events: UsageEvent[] = [];
    const { client } = await gatewayFor([instance('quiet', quiet.url)], events);
    const stream = await client.chat.completions.create({ model: 'm', messages, stream: true });
    let text = '';
    const t0 = Date.now();
    const error = await (async () => {
      for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
    })().catch((e: unknown) => e);
    expect(text).toBe('half');
    expect(error).toBeInstanceOf(Error);
    expect((error as Error).message).toMatch(/sent nothing for 400 ms/);
    expect(Date.now() - t0).toBeLessThan(2_000);
    expect(events[0]).toMatchObject({ outcome: 'broken' });
  });

  it('moves a stream that stays quiet before its first event to another engine after the idle timeout', async () => {
    // Ids in key order: ties go round robin in that order, so the quiet engine is tried first.
    const quiet = await engine(quietFromStart);
    const healthy = await engine(good);
    const events: UsageEvent[] = [];
    const { client } = await gatewayFor([instance('a', quiet.url), instance('b', healthy.url)], events);
    const t0 = Date.now();
    const stream = await client.chat.completions.create({ model: 'm', messages, stream: true });
    let text = '';
    for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
    expect(text).toBe('fine');
    expect(quiet.hits()).toBe(1);
    expect(healthy.hits()).toBe(1);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(350);
    expect(events.map((e) => [e.instanceId, e.outcome])).toEqual([['b', 'ok']]);
  });

  it('retries a 200 that is not JSON on another engine, and refuses it when there is no other', async () => {
    const garbage = await engine(htmlGarbage);
    const healthy = await engine(good);
    const both = await gatewayFor([instance('garbage', garbage.url), instance('healthy', healthy.url)]);
    for (let i = 0; i < 3; i++) {
      const reply = await both.client.chat.completions.create({ model: 'm', messages });
      expect(reply.choices[0]?.message.content).toBe('fine');
    }
    expect(garbage.hits()).toBeGreaterThanOrEqual(1);

    const alone = await gatewayFor([instance('garbage', garbage.url)]);
    const error = await alone.client.chat.completions
      .create({ model: 'm', messages })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OpenAI.APIError);
    expect([502, 503]).toContain((error as InstanceType<typeof OpenAI.APIError>).status);
    expect((error as Error).message).toMatch(/not a JSON object/);
  });

  it('never passes a garbage stream without [DONE] off as finished', async () => {
    const junk = await engine(streamGarbage);
    const events: UsageEvent[] = [];
    const { client } = await gatewayFor([instance('junk', junk.url)], events);
    const stream = await client.chat.completions.create({ model: 'm', messages, stream: true });
    let text = '';
    const error = await (async () => {
      for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
    })().catch((e: unknown) => e);
    expect(text).toBe('ok so far');
    expect((error as Error | undefined)?.message).toMatch(/without \[DONE\]/);
    expect(events[0]).toMatchObject({ outcome: 'broken' });
  });
});
