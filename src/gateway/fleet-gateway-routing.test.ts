import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { closeServers, listen } from '../../test/helpers/http-servers.js';
import { testPrincipal } from '../../test/helpers/principals.js';
import { routeInstance as instance } from '../../test/helpers/route-instance.js';
import { sendError } from '../http/respond.js';
import type { RouteInstance, RouteTable } from '../spec/route-table.js';
import { createLogger } from '../telemetry/logger.js';
import type { KeyPrincipal } from '../spec/api-keys.js';
import { KeyGuard } from './auth/key-guard.js';
import { LocalRateLimiter } from './auth/local-rate-limiter.js';
import { FleetGateway } from './fleet-gateway.js';
import { defaultRoutingConfig, type RoutingConfigInput } from './routing/routing-config.js';

/**
 * The gateway's routing policy and failover against scripted upstreams on 127.0.0.1 with known speeds
 * and failures. Assertions compare counts (never wall-clock times), with generous margins.
 */
const silentLog = createLogger('test');
silentLog.level = 'silent';

const gateways: FleetGateway[] = [];
afterEach(async () => {
  for (const gateway of gateways.splice(0)) await gateway.close();
  await closeServers();
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * An engine: `/health` answers `state.healthStatus`; completions answer `state.status` (an error), a 500
 * when the body holds `state.poison`, or stream `tokens` chunks `interTokenMs` apart after `firstTokenMs`,
 * with usage. `hits` counts completions.
 */
async function engine(
  options: { interTokenMs?: number; firstTokenMs?: number; tokens?: number; promptTokens?: number } = {},
) {
  const { interTokenMs = 1, tokens = 8, promptTokens = 5 } = options;
  const state = {
    status: 200,
    healthStatus: 200,
    hits: 0,
    firstTokenMs: options.firstTokenMs ?? 0,
    poison: null as string | null,
  };
  const url = await listen((request, response) => {
    if (request.url === '/health') {
      response.writeHead(state.healthStatus).end();
      return;
    }
    let body = '';
    request.setEncoding('utf8').on('data', (text: string) => (body += text));
    request.on('end', () => {
      state.hits += 1;
      const status = state.poison !== null && body.includes(state.poison) ? 500 : state.status;
      if (status !== 200) {
        response.writeHead(status, { 'content-type': 'application/json' });
        response.end(JSON.stringify({ error: { message: `scripted ${status}` } }));
        return;
      }
      response.writeHead(200, { 'content-type': 'text/event-stream' });
      const chunk = (text: string) => `data: {"choices":[{"index":0,"delta":{"content":"${text}"}}]}\n\n`;
      void (async () => {
        await sleep(state.firstTokenMs);
        for (let i = 0; i < tokens; i++) {
          if (i > 0) await sleep(interTokenMs);
          response.write(chunk(`t${i}`));
        }
        response.write(
          `data: {"choices":[],"usage":{"prompt_tokens":${promptTokens},"completion_tokens":${tokens},"total_tokens":${tokens + promptTokens}}}\n\n`,
        );
        response.end('data: [DONE]\n\n');
      })();
    });
  });
  return { url, state };
}

async function startGateway(
  instances: RouteInstance[],
  routing: RoutingConfigInput = {},
  region?: string,
  log = silentLog,
  guard?: KeyGuard,
  upstreamWaitMs = 300,
) {
  const table: RouteTable = {
    builtAtMs: Date.now(),
    models: [
      { name: 'm', deploymentId: 'd1', status: 'running', statusReason: null, createdAtMs: 0, instances },
    ],
  };
  const gateway = new FleetGateway({
    routes: { get: async () => table, refresh: async () => table },
    log,
    maxBodyBytes: 64 * 1024,
    upstreamWaitMs,
    routing: defaultRoutingConfig({ healthCheck: { enabled: false }, ...routing }),
    ...(region && { region }),
    ...(guard && { guard }),
  });
  gateways.push(gateway);
  gateway.start();
  const url = await listen((request, response) => {
    gateway
      .handle(request, response, request.url ?? '/')
      .catch((error: unknown) => sendError(response, error));
  });
  return { gateway, url, table };
}

let prompts = 0;
/** Sends one streamed chat request (a fresh prompt unless given) and reads it to the end. */
async function ask(url: string, options: { prompt?: string; headers?: Record<string, string> } = {}) {
  const content = options.prompt ?? `question ${++prompts}`;
  const response = await fetch(`${url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...options.headers },
    body: JSON.stringify({ model: 'm', stream: true, messages: [{ role: 'user', content }] }),
  });
  await response.text();
  return { status: response.status, instance: response.headers.get('x-edgefleet-instance') };
}

function tally(ids: (string | null)[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const id of ids) counts[String(id)] = (counts[String(id)] ?? 0) + 1;
  return counts;
}

async function until(condition: () => Promise<boolean> | boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await sleep(20);
  }
}

describe('FleetGateway routing', () => {
  it('says at debug level where each request went and why, and nothing of it at info', async () => {
    const a = await engine();
    const b = await engine();
    const lines: Record<string, unknown>[] = [];
    const log = pino({ level: 'debug' }, { write: (line: string) => void lines.push(JSON.parse(line)) });
    const { url } = await startGateway(
      [instance('a', a.url), instance('b', b.url)],
      { prefixAffinity: { enabled: false } },
      undefined,
      log,
    );
    expect((await ask(url)).status).toBe(200);
    const routed = lines.filter((line) => line['msg'] === 'routed');
    expect(routed).toHaveLength(1);
    // No key, header or address map: the client's region is the gateway's (none here).
    expect(routed[0]).toMatchObject({
      model: 'm',
      site: 'north',
      attempt: 1,
      status: 200,
      clientRegionFrom: 'none',
    });
    expect(['a', 'b']).toContain(routed[0]!['instance']);
    // Neither instance is measured yet: equal costs, a tie broken round robin, with the costs shown.
    expect(routed[0]!['reason']).toBe('tie');
    expect(routed[0]!['why']).toMatch(/^tie of 2 of 2, round robin; cost [\d.]+ ms \(rtt [\d.]+, work/);
    // A region from the header says so; a refused attempt says why its instance had been chosen.
    expect((await ask(url, { headers: { 'x-edgefleet-region': 'north' } })).status).toBe(200);
    expect(lines.filter((line) => line['msg'] === 'routed')[1]).toMatchObject({
      clientRegion: 'north',
      clientRegionFrom: 'header',
    });
    a.state.status = 500;
    b.state.status = 500;
    expect((await ask(url)).status).toBe(503);
    const refused = lines.filter((line) => String(line['msg']).startsWith('instance refused'));
    expect(refused.length).toBeGreaterThan(0);
    expect(refused[0]!['chosenBecause']).toMatch(/^(tie|least_cost|single): /);
    a.state.status = 200;
    b.state.status = 200;
    log.level = 'info';
    const before = lines.filter((line) => line['msg'] === 'routed').length;
    await sleep(1100); // past the refusals' cooldown
    expect((await ask(url)).status).toBe(200);
    expect(lines.filter((line) => line['msg'] === 'routed')).toHaveLength(before);
  });

  it('sends clearly more of a sequential workload to the faster instance once both are measured', async () => {
    const fast = await engine({ interTokenMs: 2 });
    const slow = await engine({ interTokenMs: 30 });
    // Least cost alone. With prefix affinity (the default) each new prompt goes to its owner among the
    // instances within 1.5x of the fastest, so a measurement of the fast one stretched by a stall of the
    // machine makes the two peers and hands the slow one half the prompts until it wears off (most likely
    // what happened in one CI run, where the slow instance took 12 of the 30).
    const { url, gateway } = await startGateway([instance('fast', fast.url), instance('slow', slow.url)], {
      prefixAffinity: { enabled: false },
    });
    const used: (string | null)[] = [];
    for (let i = 0; i < 30; i++) used.push((await ask(url)).instance);
    const counts = tally(used);
    expect(counts['fast'] ?? 0).toBeGreaterThanOrEqual(2 * (counts['slow'] ?? 0));
    // After the warm-up (three answers each) the fast one takes (nearly) everything.
    expect(tally(used.slice(20))['fast'] ?? 0).toBeGreaterThanOrEqual(9);
    expect(await gateway.registry.metrics()).toMatch(
      /edgefleet_gateway_routing_decisions_total\{model="m",site="north",reason="least_cost"\} [1-9]/,
    );
  });

  it('measures an instance by its own attempt, not by the wait on the instance tried before it', async () => {
    // `stuck` takes requests and never answers; `quick` answers 20 tokens at once, not streamed. A request
    // first sent to `stuck` waits out the first-byte timeout there and is answered by `quick`: `quick`'s
    // speed must not carry that wait (a room taking over from a cut one once looked 10× slower than it
    // was, and lost its traffic to a farther room).
    let stuckHits = 0;
    const stuck = await listen((request) => {
      stuckHits += 1;
      request.resume();
    });
    const quick = await listen((request, response) => {
      request.resume().on('end', () => {
        const message = { role: 'assistant', content: 'twenty tokens' };
        response.writeHead(200, { 'content-type': 'application/json' });
        response.end(
          JSON.stringify({
            object: 'chat.completion',
            choices: [{ index: 0, message, finish_reason: 'length' }],
            usage: { prompt_tokens: 5, completion_tokens: 20, total_tokens: 25 },
          }),
        );
      });
    });
    const { url, gateway } = await startGateway([instance('quick', quick), instance('stuck', stuck)], {
      prefixAffinity: { enabled: false }, // ties rotate: quick, then stuck
      timeouts: { firstByteMs: 600 },
    });
    const speedOfQuick = async () => {
      const match =
        /edgefleet_gateway_instance_time_per_output_token_seconds\{instance="quick",site="north"\} (\S+)/.exec(
          await gateway.registry.metrics(),
        );
      return match ? Number(match[1]) : null;
    };
    for (let i = 0; stuckHits === 0 && i < 4; i++) {
      const response = await fetch(`${url}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'm', messages: [{ role: 'user', content: `q${i}` }] }),
      });
      await response.text();
      expect(response.headers.get('x-edgefleet-instance')).toBe('quick');
    }
    expect(stuckHits).toBe(1);
    // 600 ms over 20 tokens would be 30 ms per token, several ms of it in the moving average.
    const seconds = await speedOfQuick();
    expect(seconds).not.toBeNull();
    expect(seconds!).toBeLessThan(0.003);
  });

  it("prefers the client's region while it has capacity and spills over when it has none", async () => {
    const local = await engine();
    const remote = await engine();
    const { url, table, gateway } = await startGateway(
      [instance('local', local.url, 'room-n', 'north'), instance('remote', remote.url, 'room-s', 'south')],
      { clientRegions: [{ cidr: '127.0.0.0/8', region: 'north' }] },
    );
    const north = { 'x-edgefleet-region': 'north' };
    const south = { 'x-edgefleet-region': 'south' };
    const byHeader = [];
    for (let i = 0; i < 6; i++) byHeader.push((await ask(url, { headers: i % 2 ? north : south })).instance);
    expect(byHeader).toEqual(['remote', 'local', 'remote', 'local', 'remote', 'local']);
    // No header: the address map says 127.0.0.1 is in the north.
    for (let i = 0; i < 4; i++) expect((await ask(url)).instance).toBe('local');
    // The north room's KV cache is full (as its worker reported): requests go south.
    table.models[0]!.instances[0]!.load = {
      requestsRunning: 30,
      requestsWaiting: 10,
      kvCacheUsage: 0.99,
      atMs: Date.now(),
    };
    for (let i = 0; i < 4; i++) expect((await ask(url, { headers: north })).instance).toBe('remote');
    expect(await gateway.registry.metrics()).toMatch(/reason="spillover"\} 4/);
    // The report goes stale (the worker stopped reporting it): back home.
    table.models[0]!.instances[0]!.load!.atMs = Date.now() - 60_000;
    expect((await ask(url, { headers: north })).instance).toBe('local');
  });

  it("takes a key's home region over the header and the address map", async () => {
    const local = await engine();
    const remote = await engine();
    const keys: Record<string, KeyPrincipal> = {
      'south-key': testPrincipal('south-key', { region: 'south' }),
      'roaming-key': testPrincipal('roaming-key'),
    };
    const guard = new KeyGuard({
      lookup: async (secret) => keys[secret] ?? null,
      limiter: new LocalRateLimiter(),
    });
    const { url } = await startGateway(
      [instance('local', local.url, 'room-n', 'north'), instance('remote', remote.url, 'room-s', 'south')],
      { clientRegions: [{ cidr: '127.0.0.0/8', region: 'north' }] },
      undefined,
      silentLog,
      guard,
    );
    const as = (key: string, extra: Record<string, string> = {}) => ({
      headers: { authorization: `Bearer ${key}`, ...extra },
    });
    for (let i = 0; i < 3; i++) {
      expect((await ask(url, as('south-key', { 'x-edgefleet-region': 'north' }))).instance).toBe('remote');
      expect((await ask(url, as('south-key'))).instance).toBe('remote');
      // A key without a region: the header, else the address (127.0.0.1 is in the north).
      expect((await ask(url, as('roaming-key', { 'x-edgefleet-region': 'south' }))).instance).toBe('remote');
      expect((await ask(url, as('roaming-key'))).instance).toBe('local');
    }
  });

  it('keeps a prefix on one instance until that instance is loaded', async () => {
    const engines = await Promise.all([1, 2, 3].map(() => engine()));
    const { url } = await startGateway(engines.map((e, i) => instance(`i${i}`, e.url)));
    const prompt = 'You are a careful assistant for the EdgeFleet operators. '.repeat(10);
    const sequential = [];
    for (let i = 0; i < 5; i++)
      sequential.push((await ask(url, { prompt: `${prompt} question ${i}` })).instance);
    expect(new Set(sequential).size).toBe(1);
    const owner = sequential[0]!;
    // Eight at once, each answered after a second: the owner takes up to four (the threshold), the
    // rest go elsewhere.
    for (const e of engines) e.state.firstTokenMs = 1000;
    const burst = await Promise.all(
      Array.from({ length: 8 }, (_, i) => ask(url, { prompt: `${prompt} burst ${i}` })),
    );
    const counts = tally(burst.map((b) => b.instance));
    expect(counts[owner]).toBeGreaterThanOrEqual(1);
    expect(counts[owner]).toBeLessThanOrEqual(5);
    expect(8 - (counts[owner] ?? 0)).toBeGreaterThanOrEqual(3);
  });

  it("sends a short prompt away from an instance busy with another client's long prompt", async () => {
    const engines = await Promise.all([1, 2].map(() => engine({ firstTokenMs: 1500 })));
    const { url } = await startGateway(
      engines.map((e, i) => instance(`i${i}`, e.url)),
      { prefixAffinity: { enabled: false } },
    );
    const arrived = (count: number) => until(() => engines[0]!.state.hits + engines[1]!.state.hits === count);
    // Nothing measured: the first goes to i0 (a tie, first in turn), the second to the idle i1.
    const long = ask(url, { prompt: 'A long document to summarise. '.repeat(1100) }); // ~8,300 tokens
    await arrived(1);
    const first = ask(url);
    await arrived(2);
    // One request in flight on each: by count a tie, which turn would give to i0. Its 8,300 prompt
    // tokens (about 4 s at the default 0.5 ms per token) are still ahead there, so i1 gets it.
    const second = await ask(url);
    expect([(await long).instance, (await first).instance, second.instance]).toEqual(['i0', 'i1', 'i1']);
  });

  it('learns from streamed answers which instance processes long prompts faster, and sends them there', async () => {
    // i0 streams faster (1 ms a token) but takes 400 ms to the first token of a 2,000-token prompt
    // (0.2 ms per prompt token); i1 streams slower (3 ms a token) and takes 40 ms (0.02 ms).
    const slowPrompts = await engine({ firstTokenMs: 400, interTokenMs: 1, promptTokens: 2000 });
    const fastPrompts = await engine({ firstTokenMs: 40, interTokenMs: 3, promptTokens: 2000 });
    const { url, gateway } = await startGateway(
      [instance('i0', slowPrompts.url), instance('i1', fastPrompts.url)],
      {
        prefixAffinity: { enabled: false },
        measurement: { warmupSamples: 1 },
      },
    );
    const long = () => ask(url, { prompt: 'A long document to summarise. '.repeat(270) }); // ~2,000 tokens
    // Two at once: one to each (a tie, then the idle one), each sent to an idle instance and measured.
    expect((await Promise.all([long(), long()])).map((a) => a.instance).sort()).toEqual(['i0', 'i1']);
    // By output speed alone i0 would win; processing these prompts about 0.36 s slower outweighs it.
    const next = [];
    for (let i = 0; i < 4; i++) next.push((await long()).instance);
    expect(next).toEqual(['i1', 'i1', 'i1', 'i1']);
    // /metrics shows what it learned: about 0.2 ms per prompt token on i0 (400 ms over 2,000 tokens).
    const metrics = await gateway.registry.metrics();
    const i0 = /edgefleet_gateway_instance_time_per_prompt_token_seconds\{instance="i0",[^}]*\} (\S+)/.exec(
      metrics,
    );
    expect(Number(i0?.[1])).toBeGreaterThan(0.00019);
    expect(Number(i0?.[1])).toBeLessThan(0.0004);
  });

  it('skips an instance that fails health checks and uses it again once it passes', async () => {
    const a = await engine();
    const b = await engine();
    const { url, gateway } = await startGateway([instance('a', a.url), instance('b', b.url)], {
      healthCheck: { enabled: true, intervalMs: 50, timeoutMs: 1000, unhealthyAfter: 1, healthyAfter: 1 },
      prefixAffinity: { enabled: false }, // ties rotate, so the recovered instance's turn comes at once
    });
    const upGauge = async (value: 0 | 1) =>
      new RegExp(`edgefleet_gateway_instance_up\\{instance="a",site="north"\\} ${value}`).test(
        await gateway.registry.metrics(),
      );
    // Every instance has its series from the first checks on, not only after its first failure.
    await until(() => upGauge(1));
    const healthy = await gateway.registry.metrics();
    expect(healthy).toMatch(/edgefleet_gateway_instance_up\{instance="b",site="north"\} 1/);
    expect(healthy).toMatch(/edgefleet_gateway_circuit_open\{instance="a",site="north"\} 0/);
    a.state.healthStatus = 503;
    await until(() => upGauge(0));
    const hitsBefore = a.state.hits;
    for (let i = 0; i < 6; i++) expect((await ask(url)).instance).toBe('b');
    expect(a.state.hits).toBe(hitsBefore);
    a.state.healthStatus = 200;
    await until(() => upGauge(1));
    // The checks' round trips are the site's measured RTT (a gauge of what the router ranks by).
    expect(await gateway.registry.metrics()).toMatch(/edgefleet_gateway_site_rtt_seconds\{site="north"\} \d/);
    const after = [];
    for (let i = 0; i < 2; i++) after.push((await ask(url)).instance);
    expect(after).toContain('a');
  });

  it('drops the gauges of an instance that leaves the route table', async () => {
    const a = await engine();
    const b = await engine();
    const instances = [instance('a', a.url), instance('b', b.url)];
    const { url, gateway } = await startGateway(instances, {
      healthCheck: { enabled: true, intervalMs: 50, timeoutMs: 1000, unhealthyAfter: 1, healthyAfter: 1 },
      circuitBreaker: { cooldownMs: 0, failureThreshold: 1, openMs: 60_000 },
      prefixAffinity: { enabled: false },
    });
    const metrics = () => gateway.registry.metrics();
    a.state.status = 500;
    for (let i = 0; i < 4; i++) expect((await ask(url)).instance).toBe('b');
    a.state.healthStatus = 503;
    await until(async () =>
      /edgefleet_gateway_instance_up\{instance="a",site="north"\} 0/.test(await metrics()),
    );
    expect(await metrics()).toMatch(/edgefleet_gateway_circuit_open\{instance="a",site="north"\} 1/);
    instances.splice(0, 1); // a is deleted (or replaced by an instance with a new id)
    await until(async () => !/instance="a"/.test(await metrics()));
    expect((await ask(url)).instance).toBe('b');
  });

  it('opens the breaker of a failing instance, skips it, and closes it after a good trial', async () => {
    const a = await engine();
    const b = await engine();
    const { url, gateway } = await startGateway([instance('a', a.url), instance('b', b.url)], {
      // Open long enough that the ten requests below finish inside it on a busy machine.
      circuitBreaker: { cooldownMs: 0, failureThreshold: 2, openMs: 1500 },
      prefixAffinity: { enabled: false }, // ties rotate: a, b, a, ...
    });
    a.state.status = 500;
    for (let i = 0; i < 10; i++) expect(await ask(url)).toEqual({ status: 200, instance: 'b' });
    expect(a.state.hits).toBe(2);
    expect(await gateway.registry.metrics()).toMatch(
      /edgefleet_gateway_circuit_open\{instance="a",site="north"\} 1/,
    );
    a.state.status = 200;
    await sleep(1600);
    const after = [];
    for (let i = 0; i < 2; i++) after.push((await ask(url)).instance);
    expect(after).toContain('a');
    expect(await gateway.registry.metrics()).toMatch(
      /edgefleet_gateway_circuit_open\{instance="a",site="north"\} 0/,
    );
  });

  it("closes a breaker when its trial's answer starts, not when a long answer ends", async () => {
    const a = await engine({ interTokenMs: 200, tokens: 10 }); // a 2 s answer
    const { url } = await startGateway([instance('a', a.url)], {
      circuitBreaker: { cooldownMs: 0, failureThreshold: 1, openMs: 300 },
    });
    a.state.status = 500;
    expect((await ask(url)).status).toBe(503);
    a.state.status = 200;
    await sleep(400); // half-open
    const trial = ask(url);
    await until(() => a.state.hits === 2);
    await sleep(100); // the trial's headers are back
    // Other requests are not refused while the trial's long answer goes on.
    const started = Date.now();
    expect(await ask(url)).toEqual({ status: 200, instance: 'a' });
    expect(Date.now() - started).toBeLessThan(2500);
    expect((await trial).status).toBe(200);
  });

  it('answers at once, with retry-after, when every instance sits out past the wait', async () => {
    const a = await engine();
    a.state.status = 500;
    // Failing its health checks too (else error answers alone do not hold the last instance back, below).
    a.state.healthStatus = 503;
    const routing = {
      circuitBreaker: { cooldownMs: 0, failureThreshold: 1, openMs: 30_000 },
      healthCheck: { enabled: true, intervalMs: 50, timeoutMs: 1000, unhealthyAfter: 1, healthyAfter: 1 },
    };
    const { url, gateway } = await startGateway(
      [instance('a', a.url)],
      routing,
      undefined,
      silentLog,
      undefined,
      10_000,
    );
    await until(async () =>
      /edgefleet_gateway_instance_up\{instance="a",site="north"\} 0/.test(await gateway.registry.metrics()),
    );
    expect((await ask(url)).status).toBe(503); // opens the breaker for 30 s
    const started = Date.now();
    const response = await fetch(`${url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'x' }] }),
    });
    expect(response.status).toBe(503);
    // Not after the 10 s wait: the breaker stays open for 30 s whatever happens meanwhile.
    expect(Date.now() - started).toBeLessThan(3000);
    expect(Number(response.headers.get('retry-after'))).toBeGreaterThanOrEqual(28);
    expect(await response.text()).toMatch(/every instance of \\"m\\" is failing .*retry after \d+ s/);
  });

  it("does not let one client's failing request hold the model back from the others", async () => {
    // A request every engine refuses with a 500 (llama-server does for an image part to a text-only
    // model), retried on each instance and sent again by the client: every breaker opens on its errors.
    const engines = [await engine(), await engine()];
    for (const e of engines) e.state.poison = 'POISON';
    const { url, gateway } = await startGateway(
      [instance('a', engines[0]!.url), instance('b', engines[1]!.url)],
      { circuitBreaker: { cooldownMs: 1000, failureThreshold: 2, openMs: 30_000 } },
      undefined,
      silentLog,
      undefined,
      10_000,
    );
    const poisoned = () =>
      fetch(`${url}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'm', stream: true, messages: [{ role: 'user', content: 'POISON' }] }),
      }).then((response) => response.status);
    for (let i = 0; i < 3; i++) expect(await poisoned()).toBeGreaterThanOrEqual(500);
    // Tried on both (each sits out after its error), then sent to one of them, which opens its breaker.
    expect(await gateway.registry.metrics()).toMatch(
      /edgefleet_gateway_circuit_open\{instance="[ab]",site="north"\} 1/,
    );
    // Sent again, it goes to one of them and is not retried on the other (which sits out for the same):
    // one client's request does not spend the retry budget every model shares.
    const hits = () => engines[0]!.state.hits + engines[1]!.state.hits;
    const before = hits();
    expect(await poisoned()).toBeGreaterThanOrEqual(500);
    expect(hits()).toBe(before + 1);
    // Both instances still pass their health checks and serve other requests: those are sent anyway, at
    // once (not after the 30 s the breakers stay open, nor the 10 s upstream wait), and close the breaker.
    const started = Date.now();
    expect((await ask(url)).status).toBe(200);
    expect(Date.now() - started).toBeLessThan(2000);
    // Sent as the fallback (counted under its own reason), and its success closed that breaker.
    const metrics = await gateway.registry.metrics();
    expect(metrics).toMatch(/reason="breaker_fallback"\} [1-9]/);
    expect(metrics).toMatch(/edgefleet_gateway_circuit_open\{instance="[ab]",site="north"\} 0/);
    for (let i = 0; i < 4; i++) expect((await ask(url)).status).toBe(200);
  });

  it('spends no retry budget on a refusal when there is no other instance to try', async () => {
    const lone = await engine();
    lone.state.status = 500;
    const healthy = await engine();
    const first = await startGateway([instance('lone', lone.url)], {
      circuitBreaker: { cooldownMs: 0, failureThreshold: 1000, openMs: 1000 },
      retry: { budgetMinRetries: 1, budgetRatio: 0.1 },
    });
    for (let i = 0; i < 10; i++) expect((await ask(first.url)).status).toBe(503);
    expect(await first.gateway.registry.metrics()).toMatch(
      /edgefleet_gateway_retry_budget_exhausted_total 0/,
    );
    // The model with a second instance still fails over: its retries were not spent by the other model.
    first.table.models.push({
      name: 'n',
      deploymentId: 'd2',
      status: 'running',
      statusReason: null,
      createdAtMs: 0,
      instances: [instance('bad', lone.url), instance('good', healthy.url)],
    });
    const response = await fetch(`${first.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'n', stream: true, messages: [{ role: 'user', content: 'x' }] }),
    });
    await response.text();
    expect(response.status).toBe(200);
    expect(response.headers.get('x-edgefleet-instance')).toBe('good');
  });

  it('stops retrying when the retry budget is spent and answers the refusal', async () => {
    const engines = await Promise.all([1, 2, 3].map(() => engine()));
    for (const e of engines) e.state.status = 503;
    const { url, gateway } = await startGateway(
      engines.map((e, i) => instance(`i${i}`, e.url)),
      {
        circuitBreaker: { cooldownMs: 0, failureThreshold: 1000, openMs: 1000 },
        retry: { budgetMinRetries: 1, budgetRatio: 0.1 },
      },
    );
    for (let i = 0; i < 10; i++) expect((await ask(url)).status).toBe(503);
    const hits = engines.reduce((sum, e) => sum + e.state.hits, 0);
    // Without a budget: 30 (three attempts each). With it: 10 first attempts + 1 + 10 × 0.1 retries,
    // and every request ends on a refused retry.
    expect(hits).toBeGreaterThanOrEqual(10);
    expect(hits).toBeLessThanOrEqual(12);
    expect(await gateway.registry.metrics()).toMatch(/edgefleet_gateway_retry_budget_exhausted_total 10/);
  });
});
