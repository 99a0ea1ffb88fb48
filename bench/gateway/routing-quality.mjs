#!/usr/bin/env node
/**
 * Routing quality on a simulated fleet: goodput at a TTFT/TPOT SLO with the gateway's least-cost policy
 * against round robin, same fleet, same arrivals, one run.
 *
 *   npm run build && node bench/gateway/routing-quality.mjs [--fleet heterogeneous|prompts]
 *       [--rates 3,5,7] [--seconds 20] [--out FILE]
 *
 * The fleet (simulated engines in this process, each an OpenAI-compatible streaming server):
 *
 * - `heterogeneous` (default): one fast instance (H200-like: TTFT 80 ms, 15 ms per token, 8 slots), one
 *   medium (H20-like: 150 ms, 30 ms, 8 slots) and two slow ones (910B-like: 300 ms, 60 ms, 4 slots).
 *   Short prompts. SLO: TTFT ≤ 1500 ms and TPOT ≤ 50 ms (the slow instances can never meet the TPOT
 *   SLO: sending them work only makes sense when the fast ones are full). Prefix affinity off.
 * - `prompts`: three identical instances (TTFT 60 ms, 20 ms per token, 8 slots) that process prompts one
 *   at a time at 0.25 ms per prompt token (a request's first token waits for the prompts sent there
 *   before it); 15 % of requests bring a long prompt (8,000 tokens: 2 s to process), the rest 100
 *   tokens. SLO: TTFT ≤ the request's own prompt time + 500 ms, TPOT ≤ 50 ms. The default routing
 *   configuration (prefix affinity on, every prompt different), and the same without its prompt
 *   term (weights.prompt 0, affinity not overridden by prompt work) to show what that term does.
 *
 * A request beyond an instance's slots waits in its queue. Each request asks for 128 tokens, streamed.
 * Arrivals are Poisson at each rate, generated once per rate from a fixed seed, so every policy sees the
 * same arrivals (and the same prompts).
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
    fleet: { type: 'string', default: 'heterogeneous' },
    rates: { type: 'string', default: '3,5,7' },
    seconds: { type: 'string', default: '20' },
    repeat: { type: 'string', default: '1' },
    out: { type: 'string' },
  },
});
const rates = flags.rates.split(',').map(Number);
const seconds = Number(flags.seconds);
const outputTokens = 128;
const scenarios = {
  heterogeneous: {
    slo: { ttftMs: 1500, tpotMs: 50 },
    fleet: [
      { id: 'h200', site: 'hall-1', ttftMs: 80, tpotMs: 15, slots: 8, promptMsPerToken: 0 },
      { id: 'h20', site: 'hall-1', ttftMs: 150, tpotMs: 30, slots: 8, promptMsPerToken: 0 },
      { id: '910b-1', site: 'hall-2', ttftMs: 300, tpotMs: 60, slots: 4, promptMsPerToken: 0 },
      { id: '910b-2', site: 'hall-2', ttftMs: 300, tpotMs: 60, slots: 4, promptMsPerToken: 0 },
    ],
    longPromptShare: 0,
    policies: {
      'round-robin': { policy: 'round-robin', prefixAffinity: { enabled: false } },
      'least-cost': { policy: 'least-cost', prefixAffinity: { enabled: false } },
    },
  },
  prompts: {
    slo: { ttftMs: 500, tpotMs: 50 }, // TTFT: beyond the request's own prompt time
    fleet: ['l40s-1', 'l40s-2', 'l40s-3'].map((id) => ({
      id,
      site: 'hall-1',
      ttftMs: 60,
      tpotMs: 20,
      slots: 8,
      promptMsPerToken: 0.25,
    })),
    longPromptShare: 0.15,
    policies: {
      'round-robin': { policy: 'round-robin' },
      'least-cost without prompt term': {
        weights: { prompt: 0 },
        prefixAffinity: { maxPromptWorkAheadMs: 3_600_000 },
      },
      'least-cost': {},
    },
  },
};
const scenario = scenarios[flags.fleet];
if (!scenario) throw new Error(`--fleet: one of ${Object.keys(scenarios).join(', ')}`);
const { slo, fleet: fleetSpec } = scenario;
const shortPromptTokens = 100;
const longPromptTokens = 8000;
/** Tokens of a prompt as the gateway estimates them: about 4 bytes each. */
const promptTokensOf = (body) => {
  try {
    const { messages } = JSON.parse(body);
    return Math.ceil(messages.reduce((sum, m) => sum + Buffer.byteLength(m.content), 0) / 4);
  } catch {
    return 0;
  }
};

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const log = createLogger('routing-quality');
log.level = 'silent';

/**
 * One simulated engine: `slots` requests generate at once, the rest wait in a FIFO queue; prompts are
 * processed one at a time, each after the prompts admitted before it.
 */
async function startEngine(spec) {
  let running = 0;
  const queue = [];
  const stats = { served: 0 };
  let promptsDoneAt = 0;
  const generate = async ({ response, promptTokens }) => {
    response.writeHead(200, { 'content-type': 'text/event-stream' });
    const promptDoneAt = Math.max(performance.now(), promptsDoneAt) + promptTokens * spec.promptMsPerToken;
    promptsDoneAt = promptDoneAt;
    await sleep(promptDoneAt - performance.now() + spec.ttftMs);
    for (let i = 0; i < outputTokens; i++) {
      if (response.destroyed) break;
      response.write(`data: {"choices":[{"index":0,"delta":{"content":"t${i} "}}]}\n\n`);
      if (i < outputTokens - 1) await sleep(spec.tpotMs);
    }
    response.write(
      `data: {"choices":[],"usage":{"prompt_tokens":${promptTokens},"completion_tokens":${outputTokens},"total_tokens":${promptTokens + outputTokens}}}\n\n`,
    );
    response.end('data: [DONE]\n\n');
    stats.served += 1;
  };
  const admit = () => {
    while (running < spec.slots && queue.length > 0) {
      const job = queue.shift();
      running += 1;
      void generate(job).finally(() => {
        running -= 1;
        admit();
      });
    }
  };
  const server = createServer((request, response) => {
    if (request.url === '/health') return void response.end('{"status":"ok"}');
    let body = '';
    request.setEncoding('utf8');
    request.on('data', (text) => (body += text));
    request.on('end', () => {
      queue.push({ response, promptTokens: promptTokensOf(body) });
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

/** Whether request `n` brings a long prompt (the same requests for every policy). */
function isLong(n, seed) {
  const hash = Math.imul(n + 1, 2654435761) ^ seed;
  return ((hash >>> 0) % 1000) / 1000 < scenario.longPromptShare;
}

/** One streamed request through the gateway: TTFT, TPOT, which instance. */
function send(gatewayUrl, n, long) {
  return new Promise((resolve) => {
    const started = performance.now();
    let first = 0;
    let chunks = 0;
    const question = `question ${n}`;
    const tokens = scenario.longPromptShare === 0 ? 0 : long ? longPromptTokens : shortPromptTokens;
    const content = tokens === 0 ? question : `${question} `.padEnd(tokens * 4, 'lorem ipsum ');
    const body = JSON.stringify({ model: 'm', stream: true, messages: [{ role: 'user', content }] });
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
          // The TTFT SLO counts beyond the request's own prompt time (the same on every instance).
          const ownPromptMs = tokens * fleetSpec[0].promptMsPerToken;
          const ok = res.statusCode === 200 && chunks === outputTokens;
          resolve({ ok, instance, ttftMs, tpotMs, long, waitMs: ttftMs - ownPromptMs });
        });
      },
    );
    req.on('error', () => resolve({ ok: false }));
    req.end(body);
  });
}

async function runPolicy(policy, routing, rate, engines, seed) {
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
    routing: defaultRoutingConfig(routing),
  });
  gateway.start();
  const server = createServer((request, response) => {
    gateway.handle(request, response, request.url.split('?')[0]).catch((error) => sendError(response, error));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const url = `http://127.0.0.1:${server.address().port}`;
  const schedule = arrivals(rate, seed);
  const t0 = performance.now();
  const pending = schedule.map(async (at, n) => {
    await sleep(Math.max(0, at - (performance.now() - t0)));
    return send(url, n, isLong(n, seed));
  });
  const results = await Promise.all(pending);
  const wallS = (performance.now() - t0) / 1000;
  await gateway.close();
  server.close();
  const good = results.filter((r) => r.ok && r.waitMs <= slo.ttftMs && r.tpotMs <= slo.tpotMs);
  const share = {};
  for (const r of results) share[r.instance ?? 'error'] = (share[r.instance ?? 'error'] ?? 0) + 1;
  const sorted = (values) => [...values].sort((a, b) => a - b);
  const ttfts = sorted(results.filter((r) => r.ok).map((r) => r.ttftMs));
  const shortTtfts = sorted(results.filter((r) => r.ok && !r.long).map((r) => r.ttftMs));
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
    longPrompts: results.filter((r) => r.long).length,
    shortP50TtftMs: shortTtfts[Math.floor(shortTtfts.length / 2)] ?? null,
    shortP90TtftMs: shortTtfts[Math.floor(shortTtfts.length * 0.9)] ?? null,
    perInstance: share,
    wallSeconds: wallS,
  };
}

const engines = await Promise.all(fleetSpec.map(startEngine));
const rows = [];
const repeats = Number(flags.repeat);
for (const rate of rates) {
  // Each repeat has its own arrivals (seed), the same for every policy; policies take turns.
  for (let repeat = 0; repeat < repeats; repeat++) {
    for (const [policy, routing] of Object.entries(scenario.policies)) {
      const row = { ...(await runPolicy(policy, routing, rate, engines, 42 + rate + 1000 * repeat)), repeat };
      rows.push(row);
      const shortTtft =
        scenario.longPromptShare === 0
          ? ''
          : `, short prompts' TTFT p50 ${row.shortP50TtftMs?.toFixed(0)} ms p90 ${row.shortP90TtftMs?.toFixed(0)} ms` +
            ` (${row.longPrompts} long prompts)`;
      console.log(
        `${policy.padEnd(11)} ${String(rate).padStart(3)} req/s  ${row.withinSlo}/${row.requests} within SLO (${(
          row.goodputShare * 100
        ).toFixed(
          0,
        )}%), goodput ${row.goodputPerSecond.toFixed(2)} req/s, p50 TTFT ${row.p50TtftMs?.toFixed(0)} ms${shortTtft}, ` +
          `per instance ${JSON.stringify(row.perInstance)}`,
      );
    }
  }
}
if (repeats > 1) {
  console.log('\nwithin SLO, median of the repeats (range):');
  for (const rate of rates) {
    for (const policy of Object.keys(scenario.policies)) {
      const shares = rows
        .filter((r) => r.rate === rate && r.policy === policy)
        .map((r) => r.goodputShare * 100)
        .sort((a, b) => a - b);
      const median = shares[Math.floor(shares.length / 2)];
      console.log(
        `${policy.padEnd(30)} ${String(rate).padStart(3)} req/s  ${median.toFixed(0)}% (${shares[0].toFixed(0)}–${shares.at(-1).toFixed(0)}%)`,
      );
    }
  }
}
for (const engine of engines) engine.server.close();
const file =
  flags.out ??
  path.join(
    root,
    'bench/results',
    `routing-quality-${flags.fleet}-${new Date().toISOString().replace(/[:.]/g, '-').slice(0, 19)}.json`,
  );
mkdirSync(path.dirname(file), { recursive: true });
writeFileSync(
  file,
  JSON.stringify({ scenario: flags.fleet, slo, outputTokens, seconds, fleet: fleetSpec, rows }, null, 2),
);
console.log(`results: ${path.relative(root, file)}`);
agent.destroy();
