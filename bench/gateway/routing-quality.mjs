#!/usr/bin/env node
/**
 * Routing quality on a simulated heterogeneous fleet: goodput at a TTFT/TPOT SLO with the gateway's
 * least-cost policy against round robin, same fleet, same arrivals, one run.
 *
 *   npm run build && node bench/gateway/routing-quality.mjs [--rates 3,5,7] [--seconds 20] [--out FILE]
 *
 * The fleet (simulated engines in this process, each an OpenAI-compatible streaming server): one fast
 * instance (H200-like: TTFT 80 ms, 15 ms per token, 8 slots), one medium (H20-like: 150 ms, 30 ms, 8
 * slots) and two slow ones (910B-like: 300 ms, 60 ms, 4 slots). A request beyond an instance's slots
 * waits in its queue. Each request asks for 128 tokens, streamed. Arrivals are Poisson at each rate,
 * generated once per rate from a fixed seed, so both policies see the same arrivals. SLO: TTFT ≤ 1500 ms
 * and TPOT ≤ 50 ms (the slow instances can never meet the TPOT SLO: sending them work only makes sense
 * when the fast ones are full).
 */
import { once } from 'node:events';
import { createServer, request as httpRequest, Agent } from 'node:http';
import { writeFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const dist = (module) => import(path.join(root, 'dist', module));
const [{ FleetGateway }, { defaultRoutingConfig }, { sendError }, { createLogger }] = await Promise.all([
  dist('gateway/fleet-gateway.js'),
  dist('gateway/routing/routing-config.js'),
  dist('http/respond.js'),
  dist('telemetry/logger.js'),
]);

const { values: flags } = parseArgs({
  options: {
    rates: { type: 'string', default: '3,5,7' },
    seconds: { type: 'string', default: '20' },
    out: { type: 'string' },
  },
});
const rates = flags.rates.split(',').map(Number);
const seconds = Number(flags.seconds);
const outputTokens = 128;
const slo = { ttftMs: 1500, tpotMs: 50 };
const fleetSpec = [
  { id: 'h200', site: 'hall-1', ttftMs: 80, tpotMs: 15, slots: 8 },
  { id: 'h20', site: 'hall-1', ttftMs: 150, tpotMs: 30, slots: 8 },
  { id: '910b-1', site: 'hall-2', ttftMs: 300, tpotMs: 60, slots: 4 },
  { id: '910b-2', site: 'hall-2', ttftMs: 300, tpotMs: 60, slots: 4 },
];

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const log = createLogger('routing-quality');
log.level = 'silent';

/** One simulated engine: `slots` requests generate at once, the rest wait in a FIFO queue. */
async function startEngine(spec) {
  let running = 0;
  const queue = [];
  const stats = { served: 0 };
  const generate = async (response) => {
    response.writeHead(200, { 'content-type': 'text/event-stream' });
    await sleep(spec.ttftMs);
    for (let i = 0; i < outputTokens; i++) {
      if (response.destroyed) break;
      response.write(`data: {"choices":[{"index":0,"delta":{"content":"t${i} "}}]}\n\n`);
      if (i < outputTokens - 1) await sleep(spec.tpotMs);
    }
    response.write(
      `data: {"choices":[],"usage":{"prompt_tokens":32,"completion_tokens":${outputTokens},"total_tokens":${32 + outputTokens}}}\n\n`,
    );
    response.end('data: [DONE]\n\n');
    stats.served += 1;
  };
  const admit = () => {
    while (running < spec.slots && queue.length > 0) {
      const response = queue.shift();
      running += 1;
      void generate(response).finally(() => {
        running -= 1;
        admit();
      });
    }
  };
  const server = createServer((request, response) => {
    if (request.url === '/health') return void response.end('{"status":"ok"}');
    request.resume();
    request.on('end', () => {
      queue.push(response);
      admit();
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { spec, server, stats, url: `http://127.0.0.1:${server.address().port}` };
}

/** A deterministic Poisson arrival schedule (ms offsets) for `rate` requests/s over `seconds`. */
function arrivals(rate, seed) {
  let state = seed >>> 0;
  const random = () => ((state = (Math.imul(state, 1664525) + 1013904223) >>> 0) + 0.5) / 2 ** 32;
  const times = [];
  for (let t = -Math.log(random()) / rate; t < seconds; t += -Math.log(random()) / rate) times.push(t * 1000);
  return times;
}

const agent = new Agent({ keepAlive: true, maxSockets: 1024 });

/** One streamed request through the gateway: TTFT, TPOT, which instance. */
function send(gatewayUrl, n) {
  return new Promise((resolve) => {
    const started = performance.now();
    let first = 0;
    let chunks = 0;
    const body = JSON.stringify({
      model: 'm',
      stream: true,
      messages: [{ role: 'user', content: `question ${n}` }],
    });
    const req = httpRequest(
      `${gatewayUrl}/v1/chat/completions`,
      { method: 'POST', agent, headers: { 'content-type': 'application/json' } },
      (res) => {
        const instance = res.headers['x-edgefleet-instance'];
        res.setEncoding('utf8');
        res.on('data', (text) => {
          const n = (text.match(/"content":"t/g) ?? []).length;
          if (n > 0 && first === 0) first = performance.now();
          chunks += n;
        });
        res.on('end', () => {
          const end = performance.now();
          const ttftMs = first - started;
          const tpotMs = chunks > 1 ? (end - first) / (chunks - 1) : Infinity;
          resolve({ ok: res.statusCode === 200 && chunks === outputTokens, instance, ttftMs, tpotMs });
        });
      },
    );
    req.on('error', () => resolve({ ok: false }));
    req.end(body);
  });
}

async function runPolicy(policy, rate, engines) {
  const instances = engines.map((e) => ({
    id: e.spec.id,
    deploymentId: 'd',
    nodeId: e.spec.id,
    nodeName: e.spec.id,
    siteId: e.spec.site,
    siteName: e.spec.site,
    region: null,
    url: e.url,
  }));
  const table = {
    builtAtMs: Date.now(),
    models: [
      { name: 'm', deploymentId: 'd', status: 'running', statusReason: null, createdAtMs: 0, instances },
    ],
  };
  const gateway = new FleetGateway({
    routes: { get: async () => table, refresh: async () => table },
    log,
    maxBodyBytes: 1 << 20,
    upstreamWaitMs: 10_000,
    routing: defaultRoutingConfig({ policy, prefixAffinity: { enabled: false } }),
  });
  gateway.start();
  const server = createServer((request, response) => {
    gateway.handle(request, response, request.url.split('?')[0]).catch((error) => sendError(response, error));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const url = `http://127.0.0.1:${server.address().port}`;
  const schedule = arrivals(rate, 42 + rate);
  const t0 = performance.now();
  const pending = schedule.map(async (at, n) => {
    await sleep(Math.max(0, at - (performance.now() - t0)));
    return send(url, n);
  });
  const results = await Promise.all(pending);
  const wallS = (performance.now() - t0) / 1000;
  await gateway.close();
  server.close();
  const good = results.filter((r) => r.ok && r.ttftMs <= slo.ttftMs && r.tpotMs <= slo.tpotMs);
  const share = {};
  for (const r of results) share[r.instance ?? 'error'] = (share[r.instance ?? 'error'] ?? 0) + 1;
  const sorted = (values) => [...values].sort((a, b) => a - b);
  const ttfts = sorted(results.filter((r) => r.ok).map((r) => r.ttftMs));
  return {
    policy,
    rate,
    requests: results.length,
    errors: results.filter((r) => !r.ok).length,
    withinSlo: good.length,
    goodputShare: good.length / results.length,
    goodputPerSecond: good.length / seconds,
    p50TtftMs: ttfts[Math.floor(ttfts.length / 2)] ?? null,
    p99TtftMs: ttfts[Math.floor(ttfts.length * 0.99)] ?? null,
    perInstance: share,
    wallSeconds: wallS,
  };
}

const engines = await Promise.all(fleetSpec.map(startEngine));
const rows = [];
for (const rate of rates) {
  for (const policy of ['round-robin', 'least-cost']) {
    const row = await runPolicy(policy, rate, engines);
    rows.push(row);
    console.log(
      `${policy.padEnd(11)} ${String(rate).padStart(3)} req/s  ${row.withinSlo}/${row.requests} within SLO (${(
        row.goodputShare * 100
      ).toFixed(
        0,
      )}%), goodput ${row.goodputPerSecond.toFixed(2)} req/s, p50 TTFT ${row.p50TtftMs?.toFixed(0)} ms, ` +
        `per instance ${JSON.stringify(row.perInstance)}`,
    );
  }
}
for (const engine of engines) engine.server.close();
const file =
  flags.out ??
  path.join(
    root,
    'bench/results',
    `routing-quality-${new Date().toISOString().replace(/[:.]/g, '-').slice(0, 19)}.json`,
  );
mkdirSync(path.dirname(file), { recursive: true });
writeFileSync(file, JSON.stringify({ slo, outputTokens, seconds, fleet: fleetSpec, rows }, null, 2));
console.log(`results: ${path.relative(root, file)}`);
agent.destroy();
