#!/usr/bin/env node
/**
 * Soak run through the whole stack: `edgefleet server` (control plane + gateway) and one `edgefleet
 * worker` per room, each running an instance of a generated GGUF model, loaded through the server's
 * gateway with the official request shape (non-streamed chat completions, a fixed answer length).
 *
 * 1. Finds the maximum sustainable rate: open-loop load (requests sent on a fixed schedule, not waiting
 *    for answers) in steps of --step-s seconds that grow by --step-factor; a step is sustained when every
 *    request succeeds, the achieved rate is ≥ 95 % of the offered one, and p99 latency is below both
 *    --max-p99-ms and --knee (default 4) × the first step's p99 (the latency knee: past it, queues grow).
 * 2. Soaks at --fraction (default 0.8) of that rate for --duration-s (default 600), reporting per minute:
 *    requests, errors, p50/p99 latency, and the resident memory (VmRSS) of the server, the workers and the
 *    engines.
 * 3. Verdict: zero errors; p99 stable (the last minute's p99 within 1.5× of the second minute's); memory
 *    growth under 5 % between the second and the last minute: the resident memory of the workers and the
 *    engines, and for the server its live JavaScript heap — the lowest `nodejs_heap_size_used_bytes` of
 *    each minute, sampled every 2 s, which is what survives garbage collection. (The server's resident
 *    memory is reported too; V8 grows it lazily up to its heap limit, so alone it does not tell a leak.)
 *
 *   npm run build && node bench/soak/run.mjs [--rooms 2] [--duration-s 600] [--fraction 0.8]
 *                                            [--max-tokens 16] [--parallel 4] [--out FILE]
 *
 * Results: a markdown summary on stdout, JSON in bench/results/soak-<date>.json, logs in a temp directory.
 */
import { readFileSync, mkdirSync, mkdtempSync, writeFileSync, readdirSync } from 'node:fs';
import { Agent, request as httpRequest } from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { runCommand, startProcess, stopProcess } from '../engine/processes.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const cli = path.join(root, 'bin', 'edgefleet.js');
const { values: flags } = parseArgs({
  options: {
    rooms: { type: 'string', default: '2' },
    'duration-s': { type: 'string', default: '600' },
    fraction: { type: 'string', default: '0.8' },
    'max-tokens': { type: 'string', default: '16' },
    parallel: { type: 'string', default: '4' },
    'start-rate': { type: 'string', default: '2' },
    'step-factor': { type: 'string', default: '1.4' },
    'step-s': { type: 'string', default: '15' },
    'max-p99-ms': { type: 'string', default: '2000' },
    knee: { type: 'string', default: '4' },
    out: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  },
});
if (flags.help) {
  process.stdout.write(readFileSync(fileURLToPath(import.meta.url), 'utf8').split('*/')[0] + '*/\n');
  process.exit(0);
}
const rooms = Number(flags.rooms);
const durationS = Number(flags['duration-s']);
const fraction = Number(flags.fraction);
const maxTokens = Number(flags['max-tokens']);
const log = (text) => process.stderr.write(`[soak ${new Date().toISOString().slice(11, 19)}] ${text}\n`);

const work = mkdtempSync(path.join(os.tmpdir(), 'edgefleet-soak-'));
const { makeModel } = await import(path.join(root, 'dist', 'catalog', 'gguf', 'make-model.js'));
const modelPath = path.join(work, 'soak-model.gguf');
await makeModel(modelPath, {});

// The control plane with its gateway, then one worker per room.
const serverHome = path.join(work, 'server');
const server = startProcess(
  process.execPath,
  [cli, 'server', '--home', serverHome, '--port', '0', '--reconcile-ms', '500', '--context', '512'],
  { logFile: path.join(work, 'server.log') },
);
const serverUrl = await waitForLine(server.logFile, /listening on (http:\/\/\S+)/, 30_000);
const adminKey = readFileSync(path.join(serverHome, 'admin-key'), 'utf8').trim();
const api = async (method, route, body) => {
  const response = await fetch(`${serverUrl}${route}`, {
    method,
    headers: { authorization: `Bearer ${adminKey}`, 'content-type': 'application/json' },
    ...(body && { body: JSON.stringify(body) }),
  });
  return response.json();
};
const workers = [];
for (let r = 1; r <= rooms; r++) {
  const token =
    r === 1
      ? readFileSync(path.join(serverHome, 'join-token'), 'utf8').trim()
      : (await runCommand(process.execPath, [cli, 'server', 'token', '--home', serverHome])).stdout.trim();
  workers.push(
    startProcess(
      process.execPath,
      [
        ...[
          cli,
          'worker',
          '--server',
          serverUrl,
          '--token',
          token,
          '--site',
          `room-${r}`,
          '--name',
          `node-${r}`,
        ],
        ...['--home', path.join(work, `worker-${r}`), '--heartbeat-ms', '1000', '--threads', '1'],
        ...['--parallel', flags.parallel],
      ],
      { logFile: path.join(work, `worker-${r}.log`) },
    ),
  );
}
await until(async () => (await api('GET', '/api/v1/nodes')).data?.length === rooms, 30_000, 'workers');
await api('POST', '/api/v1/deployments', { name: 'soak', model: modelPath, replicas: rooms });
await until(
  async () =>
    (await api('GET', '/api/v1/instances')).data?.filter((i) => i.state === 'running').length === rooms,
  120_000,
  'instances',
);
log(`${rooms} rooms running; logs in ${work}`);

const agent = new Agent({ keepAlive: true, maxSockets: 512 });
const payload = JSON.stringify({
  model: 'soak',
  messages: [{ role: 'user', content: 'Tell me about rooms.' }],
  max_tokens: maxTokens,
  temperature: 0,
});

/** One request; resolves with its latency (ms) and whether it succeeded. */
function send() {
  const started = performance.now();
  return new Promise((resolve) => {
    const req = httpRequest(
      `${serverUrl}/v1/chat/completions`,
      {
        method: 'POST',
        agent,
        headers: {
          authorization: `Bearer ${adminKey}`,
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(payload),
        },
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c) => (body += c));
        res.on('end', () => {
          const ok = res.statusCode === 200 && body.includes('"choices"');
          resolve({ ms: performance.now() - started, ok, status: res.statusCode, body: ok ? '' : body });
        });
        res.on('error', () => resolve({ ms: performance.now() - started, ok: false, status: 0 }));
      },
    );
    req.on('error', (error) =>
      resolve({ ms: performance.now() - started, ok: false, status: 0, body: error.message }),
    );
    req.end(payload);
  });
}

/** Open-loop load at `rate` req/s for `seconds`; each result is passed to `onResult(result, atS)`. */
async function load(rate, seconds, onResult) {
  const interval = 1000 / rate;
  const t0 = performance.now();
  const pending = [];
  for (let i = 0; ; i++) {
    const at = t0 + i * interval;
    if (at - t0 >= seconds * 1000) break;
    const wait = at - performance.now();
    if (wait > 1) await sleep(wait);
    pending.push(send().then((result) => onResult(result, (performance.now() - t0) / 1000)));
  }
  await Promise.all(pending);
  return (performance.now() - t0) / 1000;
}

const percentile = (values, p) => {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
};

// 1. The maximum sustainable rate.
const steps = [];
let sustained = null;
for (let rate = Number(flags['start-rate']); ; rate *= Number(flags['step-factor'])) {
  const latencies = [];
  let errors = 0;
  const stepS = Number(flags['step-s']);
  const wallS = await load(rate, stepS, (r) => {
    latencies.push(r.ms);
    if (!r.ok) errors += 1;
  });
  const achieved = latencies.length / wallS;
  const p99 = percentile(latencies, 99);
  const limit = Math.min(Number(flags['max-p99-ms']), Number(flags.knee) * (steps[0]?.p99 ?? p99));
  const ok = errors === 0 && achieved >= 0.95 * rate && p99 <= limit;
  steps.push({ rate, achieved, errors, p50: percentile(latencies, 50), p99, ok });
  log(
    `step ${rate.toFixed(1)} req/s: achieved ${achieved.toFixed(1)}, p99 ${p99?.toFixed(0)} ms, errors ${errors}`,
  );
  if (!ok) break;
  sustained = rate;
  if (rate > 500) break;
}
if (sustained === null) throw new Error('not even the start rate was sustained; see the step results');
const soakRate = sustained * fraction;
await sleep(5_000); // let queues from the overloaded step drain

// 2. The soak, with memory sampled every 10 s.
const rss = (pid) => {
  try {
    return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) * 1024;
  } catch {
    return 0;
  }
};
const descendants = (pid) => {
  const parents = new Map();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      parents.set(Number(name), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      // gone
    }
  }
  const found = [];
  const queue = [pid];
  while (queue.length) {
    const parent = queue.shift();
    for (const [child, ppid] of parents) {
      if (ppid !== parent) continue;
      found.push(child);
      queue.push(child);
    }
  }
  return found;
};
const memory = () => ({
  server: rss(server.child.pid),
  workers: workers.reduce((n, w) => n + rss(w.child.pid), 0),
  engines: workers.reduce((n, w) => n + descendants(w.child.pid).reduce((m, pid) => m + rss(pid), 0), 0),
});
const minutes = Array.from({ length: Math.ceil(durationS / 60) }, () => ({
  latencies: [],
  errors: 0,
  memory: null,
  heapMin: null,
}));
/** The server's JavaScript heap in use, from its own /metrics (with the admin key). */
const serverHeap = async () => {
  const text = await (
    await fetch(`${serverUrl}/metrics`, { headers: { authorization: `Bearer ${adminKey}` } })
  ).text();
  const line = text.split('\n').find((l) => l.startsWith('edgefleet_server_nodejs_heap_size_used_bytes'));
  return line ? Number(line.split(' ').at(-1)) : null;
};
const errorSamples = [];
log(`soaking at ${soakRate.toFixed(1)} req/s (${fraction} × ${sustained.toFixed(1)}) for ${durationS} s`);
const minuteNow = () =>
  minutes[Math.min(minutes.length - 1, Math.floor((performance.now() - soakStart) / 60_000))];
const sampler = setInterval(() => {
  minuteNow().memory = memory(); // the last sample of each minute stands for it
}, 10_000);
const heapSampler = setInterval(() => {
  const minute = minuteNow();
  void serverHeap()
    .then((heap) => {
      if (heap !== null) minute.heapMin = Math.min(minute.heapMin ?? Infinity, heap);
    })
    .catch(() => undefined);
}, 2_000);
const soakStart = performance.now();
await load(soakRate, durationS, (r, atS) => {
  const minute = minutes[Math.min(minutes.length - 1, Math.floor(atS / 60))];
  minute.latencies.push(r.ms);
  if (!r.ok) {
    minute.errors += 1;
    if (errorSamples.length < 5) errorSamples.push(`${r.status}: ${String(r.body).slice(0, 200)}`);
  }
});
clearInterval(sampler);
clearInterval(heapSampler);
minutes.at(-1).memory ??= memory();

// 3. Report.
const rows = minutes.map((m, i) => ({
  minute: i + 1,
  requests: m.latencies.length,
  errors: m.errors,
  p50: percentile(m.latencies, 50),
  p99: percentile(m.latencies, 99),
  memory: m.memory,
  serverHeapMin: m.heapMin,
}));
const second = rows[1] ?? rows[0];
const last = rows.at(-1);
const growth = (key) => (second.memory && last.memory ? last.memory[key] / second.memory[key] - 1 : null);
const verdict = {
  errors: rows.reduce((n, r) => n + r.errors, 0),
  p99Ratio: second.p99 && last.p99 ? last.p99 / second.p99 : null,
  memoryGrowth: {
    serverHeap:
      second.serverHeapMin && last.serverHeapMin ? last.serverHeapMin / second.serverHeapMin - 1 : null,
    workers: growth('workers'),
    engines: growth('engines'),
  },
  serverRssGrowth: growth('server'),
};
const mb = (bytes) => (bytes / 1024 / 1024).toFixed(1);
const lines = [
  `soak: ${rooms} rooms, ${maxTokens} tokens per answer, sustained ${sustained.toFixed(1)} req/s, soaked at ${soakRate.toFixed(1)} req/s for ${durationS} s`,
  '',
  '| minute | requests | errors | p50 ms | p99 ms | server heap MB (min) | server RSS MB | workers RSS MB | engines RSS MB |',
  '|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
  ...rows.map(
    (r) =>
      `| ${r.minute} | ${r.requests} | ${r.errors} | ${r.p50?.toFixed(1)} | ${r.p99?.toFixed(1)} | ${r.serverHeapMin ? mb(r.serverHeapMin) : '–'} | ${r.memory ? mb(r.memory.server) : '–'} | ${r.memory ? mb(r.memory.workers) : '–'} | ${r.memory ? mb(r.memory.engines) : '–'} |`,
  ),
  '',
  `errors: ${verdict.errors}${errorSamples.length ? ` (e.g. ${errorSamples[0]})` : ''}`,
  `p99 last minute / second minute: ${verdict.p99Ratio?.toFixed(2)}`,
  `memory growth, second → last minute: server heap ${(100 * verdict.memoryGrowth.serverHeap).toFixed(1)} % (RSS ${(100 * verdict.serverRssGrowth).toFixed(1)} %), workers ${(100 * verdict.memoryGrowth.workers).toFixed(1)} %, engines ${(100 * verdict.memoryGrowth.engines).toFixed(1)} %`,
];
process.stdout.write(`${lines.join('\n')}\n`);
const out =
  flags.out ??
  path.join(
    root,
    'bench',
    'results',
    `soak-${new Date().toISOString().replace(/[:.]/g, '-').slice(0, 19)}.json`,
  );
mkdirSync(path.dirname(out), { recursive: true });
writeFileSync(
  out,
  JSON.stringify({ flags, steps, sustained, soakRate, rows, verdict, errorSamples }, null, 2),
);
process.stdout.write(`results: ${path.relative(root, out)}\n`);

for (const w of workers) await stopProcess(w);
await stopProcess(server);
const pass =
  verdict.errors === 0 &&
  (verdict.p99Ratio ?? Infinity) <= 1.5 &&
  Object.values(verdict.memoryGrowth).every((g) => g !== null && g < 0.05);
process.exit(pass ? 0 : 1);

async function waitForLine(file, pattern, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    let text = '';
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      // not created yet
    }
    const match = pattern.exec(text);
    if (match) return match[1];
    await sleep(100);
  }
  throw new Error(`no ${pattern} in ${file} within ${timeoutMs} ms`);
}

async function until(check, timeoutMs, what) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check().catch(() => false)) return;
    await sleep(250);
  }
  throw new Error(`timed out waiting for ${what}; logs in ${work}`);
}
