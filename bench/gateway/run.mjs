#!/usr/bin/env node
/**
 * Gateway overhead benchmark: a fast OpenAI-compatible upstream measured directly, through a bare Node.js
 * proxy, and through EdgeFleet's FleetGateway (without and with API keys), in one run, with wrk.
 *
 *   npm run build && node bench/gateway/run.mjs [options]
 *
 * See docs/benchmarks.md ("Gateway overhead") for what is measured. Options: --help.
 */
import { spawnSync } from 'node:child_process';
import http from 'node:http';
import { mkdirSync, readFileSync, readdirSync, renameSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { clkTck, cpuSeconds, runWrk, startBareProxy, startNode, stopNode } from './processes.mjs';
import { summarizeProfile } from './profile-summary.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../..');
const help = `usage: node bench/gateway/run.mjs [options]

Loads a constant-time upstream with wrk (1 thread) directly and through each proxy, at each concurrency,
non-streamed and streamed, then measures streamed chunks relayed per second.
  --targets LIST          any of direct,bare,gateway,gateway-keys (default all four; direct is always run),
                          bare-undici: node:http's server and undici's client with nothing else (the
                          gateway's own HTTP stack: its floor),
                          raw-net: HTTP/1.1 by hand on node:net both ways, no HTTP library (diagnostic:
                          what a leaner stack than node:http and undici could save),
                          raw-client: node:http's server, the upstream side by hand (diagnostic: what
                          replacing undici alone could save),
                          gateway-shm: the gateway with its journal on /dev/shm (fsync nearly free), and
                          gateway-interval: the gateway with --journal-sync interval (fsync every 200 ms),
                          gateway-quiet: gateway-interval without the access log (diagnostic),
                          gateway-2w: gateway-interval as two worker processes on one port
                          (edgefleet gateway --workers 2; the in-process times are one worker's)
  --concurrency LIST      wrk connections (default 1,64)
  --duration-s N          seconds per measurement (default 6)
  --warmup-requests N     non-streamed requests (and N/20 streamed) sent to a fresh process before each
                          measurement, 8 at a time, all allowed to finish (default 20000: the gateway's code needs that many to be fully optimized by V8)
  --chunks N              content chunks per streamed answer (default 16)
  --chunk-interval-ms N   time between chunks (default 1)
  --tput-chunks N         chunks per answer in the chunk-throughput run, sent as fast as possible (default 1000)
  --tput-concurrency N    connections in the chunk-throughput run (default 64)
  --rounds N              repeat every measurement N times (default 1); the tables show the median of
                          the rounds and, with N > 1, the range of the derived figures
  --cpu-prof DIR          run the proxy processes under node --cpu-prof, profiles and summaries in DIR
  --out FILE              JSON results (default bench/results/gateway-<date>.json)
`;

const { values: flags } = parseArgs({
  options: {
    targets: { type: 'string', default: 'direct,bare,gateway,gateway-keys' },
    concurrency: { type: 'string', default: '1,64' },
    'duration-s': { type: 'string', default: '6' },
    'warmup-requests': { type: 'string', default: '20000' },
    chunks: { type: 'string', default: '16' },
    'chunk-interval-ms': { type: 'string', default: '1' },
    'tput-chunks': { type: 'string', default: '1000' },
    'tput-concurrency': { type: 'string', default: '64' },
    rounds: { type: 'string', default: '1' },
    'cpu-prof': { type: 'string' },
    out: { type: 'string' },
    help: { type: 'boolean' },
  },
  strict: true,
});
if (flags.help) {
  process.stdout.write(help);
  process.exit(0);
}

const targets = ['direct', ...flags.targets.split(',').filter((t) => t && t !== 'direct')];
const concurrencies = flags.concurrency.split(',').map(Number);
const durationS = Number(flags['duration-s']);
const chunks = Number(flags.chunks);
const intervalMs = Number(flags['chunk-interval-ms']);
const tputChunks = Number(flags['tput-chunks']);
const tputConcurrency = Number(flags['tput-concurrency']);
const warmupRequests = Number(flags['warmup-requests']);
const rounds = Number(flags.rounds);
const benchKey = 'ef-bench-0123456789abcdef0123456789abcdef';

const wrkVersion = spawnSync('wrk', ['-v']).stdout?.toString().split('\n')[0] ?? '';
if (!wrkVersion.startsWith('wrk')) {
  process.stderr.write('wrk not found (Debian: apt-get install wrk)\n');
  process.exit(1);
}

// A typical small chat request (~0.6 KB); the client does not ask for include_usage, so the gateway adds it.
const prompt =
  'You are a helpful assistant. '.repeat(6) + 'Summarize the benefits of keep-alive connections.';
const body = (stream) =>
  JSON.stringify({
    model: 'bench',
    messages: [
      { role: 'system', content: prompt },
      { role: 'user', content: 'Hello, how are you today? Please answer in one short sentence.' },
    ],
    max_tokens: chunks,
    temperature: 0,
    ...(stream && { stream: true }),
  });

/** Busy CPU seconds of the whole machine. */
function machineBusySeconds() {
  const cpu = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const idle = cpu[3] + cpu[4];
  return (cpu.reduce((a, b) => a + b, 0) - idle) / clkTck;
}

async function wrk(url, { connections, seconds, stream, tput = false, auth = false }) {
  const env = {
    BENCH_PATH: '/v1/chat/completions',
    BENCH_BODY: body(stream),
    BENCH_AUTH: auth ? `Bearer ${benchKey}` : '',
    BENCH_CHUNKS: tput ? String(tputChunks) : '',
    BENCH_INTERVAL_MS: '0',
    // One connection: wrk.lua also times each request itself (wrk's own histogram is corrected, see there).
    BENCH_TIME_EACH: connections === 1 && !tput ? '1' : '',
  };
  return runWrk(['-t1', `-c${connections}`, `-d${seconds}s`, '--timeout', '10s', '--latency'], url, env);
}

const results = {
  startedAt: new Date().toISOString(),
  command: `node bench/gateway/run.mjs ${process.argv.slice(2).join(' ')}`.trim(),
  machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model, node: process.version, wrk: wrkVersion },
  settings: {
    durationS,
    warmupRequests,
    chunks,
    intervalMs,
    tputChunks,
    tputConcurrency,
    concurrencies,
    rounds,
  },
  runs: [],
  tput: [],
  profiles: {},
  journalBytes: {},
};

const upstream = startNode('upstream.mjs', [
  '--chunks',
  String(chunks),
  '--chunk-interval-ms',
  String(intervalMs),
]);
const upstreamPort = await upstream.port;
const upstreamUrl = `http://127.0.0.1:${upstreamPort}`;
const profileRoot = flags['cpu-prof'] ? path.resolve(flags['cpu-prof']) : undefined;
if (profileRoot) mkdirSync(profileRoot, { recursive: true });

/** Every proxy process times its requests from the inside (in-process-latency.mjs). */
const inProcess = ['--import', pathToFileURL(path.join(here, 'in-process-latency.mjs')).href];

function startTarget(target) {
  if (target === 'direct') return undefined;
  const profileDir = profileRoot && path.join(profileRoot, target);
  const nodeFlags = [...inProcess, ...(profileDir ? ['--cpu-prof', '--cpu-prof-dir', profileDir] : [])];
  const bare = startBareProxy(target, upstreamUrl, nodeFlags);
  if (bare) return bare;
  const args = ['--upstream', upstreamUrl, ...(target === 'gateway-keys' ? ['--keys'] : [])];
  // Diagnostic: the journal on tmpfs, where fsync costs next to nothing.
  if (target === 'gateway-shm') args.push('--journal-parent', '/dev/shm');
  if (target === 'gateway-interval' || target === 'gateway-quiet' || target === 'gateway-2w')
    args.push('--journal-sync', 'interval');
  if (target === 'gateway-2w') args.push('--workers', '2');
  // Diagnostic: no access log line per request.
  const env = target === 'gateway-quiet' ? { ...process.env, EDGEFLEET_LOG_LEVEL: 'warn' } : process.env;
  return startNode('gateway.mjs', args, nodeFlags, env);
}

const log = (text) => process.stderr.write(`${text}\n`);

/** Warm-up that lets every request finish (wrk cuts requests in flight when it stops, see below). */
async function warm(url, { stream, count, concurrency, auth }) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  const payload = body(stream);
  const one = () =>
    new Promise((resolve, reject) => {
      const request = http.request(
        `${url}/v1/chat/completions`,
        {
          method: 'POST',
          agent,
          headers: {
            'content-type': 'application/json',
            'content-length': Buffer.byteLength(payload),
            ...(auth && { authorization: `Bearer ${benchKey}` }),
          },
        },
        (response) => {
          response.resume();
          response.on('end', () =>
            response.statusCode === 200 ? resolve() : reject(new Error(`warm-up: ${response.statusCode}`)),
          );
        },
      );
      request.on('error', reject);
      request.end(payload);
    });
  let left = count;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (left-- > 0) await one();
    }),
  );
  agent.destroy();
}

/**
 * One measurement on a fresh proxy process: wrk drops the requests in flight when it stops, and the
 * gateway counts a client that goes away before the upstream's first byte as a refusal by the instance;
 * three in a row open its circuit breaker, so a second run on the same process would measure a gateway
 * waiting for an instance (see docs/benchmarks.md).
 */
async function measure(target, { stream, connections, tput = false, round }) {
  const proc = startTarget(target);
  let measured;
  try {
    const url = proc ? `http://127.0.0.1:${await proc.port}` : upstreamUrl;
    const auth = target === 'gateway-keys';
    await warm(url, { stream: false, count: warmupRequests, concurrency: 8, auth });
    await warm(url, { stream: true, count: Math.ceil(warmupRequests / 20), concurrency: 8, auth });
    const pids = { up: upstream.child.pid, proxy: proc?.child.pid };
    const before = {
      up: cpuSeconds(pids.up),
      proxy: proc ? cpuSeconds(pids.proxy) : 0,
      machine: machineBusySeconds(),
    };
    proc?.child.kill('SIGUSR2'); // the in-process times from here on
    const r = await wrk(url, { connections, seconds: durationS, stream, tput, auth });
    const after = {
      up: cpuSeconds(pids.up),
      proxy: proc ? cpuSeconds(pids.proxy) : 0,
      machine: machineBusySeconds(),
    };
    const seconds = r.duration_us / 1e6;
    measured = {
      r,
      seconds,
      errors: Object.values(r.errors).reduce((a, b) => a + b, 0),
      upstreamCores: (after.up - before.up) / seconds,
      proxyCores: (after.proxy - before.proxy) / seconds,
      proxyCpuS: after.proxy - before.proxy,
      machineBusyCores: (after.machine - before.machine) / seconds,
    };
  } finally {
    if (proc) {
      const label = `${stream ? 'stream' : 'json'}-c${connections}${tput ? '-tput' : ''}${rounds > 1 ? `-r${round}` : ''}`;
      const inProcessMs = await finishTarget(target, proc, label);
      if (measured) measured.inProcessMs = inProcessMs;
    }
  }
  return measured;
}

/** Stops a proxy process; returns what it measured of its own requests (in-process-latency.mjs). */
async function finishTarget(target, proc, label) {
  await stopNode(proc);
  const { stdout } = proc.output();
  // One line per gateway process (each worker of gateway-2w journals on its own).
  const journals = [...stdout.matchAll(/journal (\d+)/g)];
  if (journals.length > 0)
    (results.journalBytes[target] ??= {})[label] = journals.reduce((n, m) => n + Number(m[1]), 0);
  const inproc = /^inproc (.*)$/m.exec(stdout);
  const inProcessMs = inproc ? JSON.parse(inproc[1]) : null;
  const profileDir = profileRoot && path.join(profileRoot, target);
  if (!profileDir) return inProcessMs;
  const file = readdirSync(profileDir).find((f) => f.endsWith('.cpuprofile'));
  if (!file) return inProcessMs;
  const kept = path.join(profileDir, `${label}.cpuprofile`);
  renameSync(path.join(profileDir, file), kept);
  const summary = summarizeProfile(JSON.parse(readFileSync(kept, 'utf8')));
  writeFileSync(path.join(profileDir, `${label}.txt`), summary.text);
  (results.profiles[target] ??= {})[label] = {
    file: kept,
    top: summary.top.slice(0, 25),
    byFile: summary.byFile.slice(0, 25),
  };
  return inProcessMs;
}

// Every target is measured back to back at each point, so the machine's drift (which is large on a shared
// machine) falls on all of them alike; rounds repeat the whole sequence.
for (let round = 1; round <= rounds; round++) {
  for (const stream of [false, true]) {
    for (const connections of concurrencies) {
      for (const target of targets) {
        const m = await measure(target, { stream, connections, round });
        const { r } = m;
        const run = {
          round,
          target,
          stream,
          connections,
          requests: r.requests,
          errors: m.errors,
          rps: r.requests / m.seconds,
          latencyUs: r.latency_us,
          eachUs: r.each_us ?? null,
          upstreamCores: m.upstreamCores,
          proxyCores: m.proxyCores,
          proxyCpuUsPerRequest: target === 'direct' ? null : (m.proxyCpuS * 1e6) / r.requests,
          machineBusyCores: m.machineBusyCores,
          inProcessMs: m.inProcessMs ?? null,
        };
        results.runs.push(run);
        log(
          `r${round} ${target.padEnd(16)} ${stream ? 'stream' : 'json  '} c=${String(connections).padEnd(3)} ` +
            `${run.rps.toFixed(0).padStart(6)} req/s  p50 ${(r.latency_us.p50 / 1000).toFixed(3)} ms  p99 ${(r.latency_us.p99 / 1000).toFixed(3)} ms` +
            (run.eachUs
              ? `  each p50 ${(run.eachUs.p50 / 1000).toFixed(3)} p99 ${(run.eachUs.p99 / 1000).toFixed(3)} ms`
              : '') +
            `  proxy ${run.proxyCores.toFixed(2)} cores  machine ${run.machineBusyCores.toFixed(2)} cores` +
            (run.inProcessMs ? `  inside p50 ${run.inProcessMs.p50Ms} p99 ${run.inProcessMs.p99Ms} ms` : '') +
            (m.errors ? `  ERRORS ${m.errors}` : ''),
        );
      }
    }
  }
  // Chunk throughput: long streams sent as fast as the upstream can, relayed by this one process.
  for (const target of targets) {
    const m = await measure(target, { stream: true, connections: tputConcurrency, tput: true, round });
    const run = {
      round,
      target,
      connections: tputConcurrency,
      requests: m.r.requests,
      errors: m.errors,
      // Content chunks only (each answer also has a role chunk, a stop chunk and [DONE]).
      chunksPerSecond: (m.r.requests * tputChunks) / m.seconds,
      mbPerSecond: m.r.bytes / m.seconds / 1e6,
      upstreamCores: m.upstreamCores,
      proxyCores: m.proxyCores,
      machineBusyCores: m.machineBusyCores,
    };
    results.tput.push(run);
    log(
      `r${round} ${target.padEnd(16)} chunks       ${run.chunksPerSecond.toFixed(0).padStart(8)} chunks/s  proxy ${run.proxyCores.toFixed(2)} cores${m.errors ? `  ERRORS ${m.errors}` : ''}`,
    );
  }
}
await stopNode(upstream);

// Summary against the targets: each round's figures against that round's direct run, then the median.
const median = (values) => {
  const sorted = values.filter((v) => v !== null && v !== undefined).sort((a, b) => a - b);
  if (sorted.length === 0) return null;
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};
const runsOf = (target, stream, connections) =>
  results.runs.filter((r) => r.target === target && r.stream === stream && r.connections === connections);
/** The run of the median round (by req/s) would mix rounds; each figure is its own median instead. */
const find = (target, stream, connections) => {
  const runs = runsOf(target, stream, connections);
  return {
    rps: median(runs.map((r) => r.rps)),
    latencyUs: {
      p50: median(runs.map((r) => r.latencyUs.p50)),
      p99: median(runs.map((r) => r.latencyUs.p99)),
    },
    /** Timed per request by wrk.lua (one connection), without wrk's correction; null without that timing. */
    eachUs: runs.some((r) => r.eachUs)
      ? { p50: median(runs.map((r) => r.eachUs?.p50)), p99: median(runs.map((r) => r.eachUs?.p99)) }
      : null,
  };
};
/** Latency per request (wrk.lua's own timing) of a run or a `find` where there is one, else wrk's histogram. */
const perRequestUs = (measured) => measured.eachUs ?? measured.latencyUs;
const cLow = Math.min(...concurrencies);
const cHigh = Math.max(...concurrencies);
results.summary = [];
results.summaryByRound = [];
for (const target of targets.filter((t) => t !== 'direct')) {
  for (const stream of [false, true]) {
    const perRound = [];
    for (let round = 1; round <= rounds; round++) {
      const at = (t, c) => runsOf(t, stream, c).find((r) => r.round === round);
      const d1 = at('direct', cLow);
      const t1 = at(target, cLow);
      const dN = at('direct', cHigh);
      const tN = at(target, cHigh);
      perRound.push({
        round,
        target,
        stream,
        addedP50Ms: (perRequestUs(t1).p50 - perRequestUs(d1).p50) / 1000,
        addedP99Ms: (perRequestUs(t1).p99 - perRequestUs(d1).p99) / 1000,
        // wrk's histogram, corrected for coordinated omission.
        addedP99WrkMs: (t1.latencyUs.p99 - d1.latencyUs.p99) / 1000,
        throughputRatio: tN.rps / dN.rps,
        proxyCpuUsPerRequest: tN.proxyCpuUsPerRequest,
        insideP50Ms: t1.inProcessMs?.p50Ms ?? null,
        insideP99Ms: t1.inProcessMs?.p99Ms ?? null,
      });
    }
    results.summaryByRound.push(...perRound);
    const pick = (key) => median(perRound.map((x) => x[key]));
    const range = (key) => [
      Math.min(...perRound.map((x) => x[key])),
      Math.max(...perRound.map((x) => x[key])),
    ];
    results.summary.push({
      target,
      stream,
      addedP50Ms: pick('addedP50Ms'),
      addedP99Ms: pick('addedP99Ms'),
      addedP99WrkMs: pick('addedP99WrkMs'),
      throughputRatio: pick('throughputRatio'),
      proxyCpuUsPerRequest: pick('proxyCpuUsPerRequest'),
      insideP50Ms: pick('insideP50Ms'),
      insideP99Ms: pick('insideP99Ms'),
      range: {
        addedP50Ms: range('addedP50Ms'),
        addedP99Ms: range('addedP99Ms'),
        addedP99WrkMs: range('addedP99WrkMs'),
        throughputRatio: range('throughputRatio'),
        proxyCpuUsPerRequest: range('proxyCpuUsPerRequest'),
      },
    });
  }
}
const tputOf = (t) => {
  const runs = results.tput.filter((r) => r.target === t);
  return {
    chunksPerSecond: median(runs.map((r) => r.chunksPerSecond)),
    proxyCores: median(runs.map((r) => r.proxyCores)),
    upstreamCores: median(runs.map((r) => r.upstreamCores)),
  };
};

const lines = [];
const fixed3 = (value) => (value === null || value === undefined ? '–' : value.toFixed(3));
const ms = (us) => fixed3(us / 1000);
lines.push(
  `| target | mode | c=${cLow} p50 ms | c=${cLow} p99 ms | c=${cLow} p99 ms (wrk) | added p50 ms | added p99 ms | added p99 ms (wrk) | c=${cHigh} req/s | ratio to direct | proxy CPU µs/req (c=${cHigh}) |`,
);
lines.push('|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
for (const target of targets) {
  for (const stream of [false, true]) {
    const t1 = find(target, stream, cLow);
    const tN = find(target, stream, cHigh);
    const s = results.summary.find((x) => x.target === target && x.stream === stream);
    lines.push(
      `| ${target} | ${stream ? `stream ${chunks}×${intervalMs} ms` : 'json'} | ${ms(perRequestUs(t1).p50)} | ${ms(perRequestUs(t1).p99)} | ${ms(t1.latencyUs.p99)} | ` +
        `${fixed3(s?.addedP50Ms)} | ${fixed3(s?.addedP99Ms)} | ${fixed3(s?.addedP99WrkMs)} | ${tN.rps.toFixed(0)} | ${s ? s.throughputRatio.toFixed(2) : '1'} | ` +
        `${s?.proxyCpuUsPerRequest ? s.proxyCpuUsPerRequest.toFixed(0) : '–'} |`,
    );
  }
}
lines.push('');
lines.push(
  `| target | mode | c=${cLow} p50 ms | c=${cLow} p99 ms | inside the proxy: p50 ms | inside the proxy: p99 ms |`,
);
lines.push('|---|---|---:|---:|---:|---:|');
for (const s of results.summary) {
  const t1 = find(s.target, s.stream, cLow);
  lines.push(
    `| ${s.target} | ${s.stream ? 'stream' : 'json'} | ${ms(perRequestUs(t1).p50)} | ${ms(perRequestUs(t1).p99)} | ` +
      `${fixed3(s.insideP50Ms)} | ${fixed3(s.insideP99Ms)} |`,
  );
}
lines.push('');
lines.push(
  `| target | streamed chunks/s (c=${tputConcurrency}, ${tputChunks} chunks per answer) | proxy cores | upstream cores |`,
);
lines.push('|---|---:|---:|---:|');
for (const t of targets) {
  const r = tputOf(t);
  lines.push(
    `| ${t} | ${r.chunksPerSecond.toFixed(0)} | ${t === 'direct' ? '–' : r.proxyCores.toFixed(2)} | ${r.upstreamCores.toFixed(2)} |`,
  );
}
if (rounds > 1) {
  const span = ([low, high], digits) => `${low.toFixed(digits)}–${high.toFixed(digits)}`;
  lines.push('', `Ranges over ${rounds} rounds:`, '');
  lines.push(
    '| target | mode | added p50 ms | added p99 ms | added p99 ms (wrk) | ratio to direct | proxy CPU µs/req |',
  );
  lines.push('|---|---|---:|---:|---:|---:|---:|');
  for (const s of results.summary) {
    lines.push(
      `| ${s.target} | ${s.stream ? 'stream' : 'json'} | ${span(s.range.addedP50Ms, 3)} | ${span(s.range.addedP99Ms, 3)} | ` +
        `${span(s.range.addedP99WrkMs, 3)} | ` +
        `${span(s.range.throughputRatio, 2)} | ${span(s.range.proxyCpuUsPerRequest, 0)} |`,
    );
  }
}
const errors = [...results.runs, ...results.tput].reduce((n, r) => n + r.errors, 0);
if (errors) lines.push('', `**${errors} wrk errors** (connect/read/write/status/timeout): see the JSON.`);
results.table = lines.join('\n');
process.stdout.write(`\n${results.table}\n`);

const out =
  flags.out ??
  path.join(root, 'bench/results', `gateway-${results.startedAt.replace(/[:.]/g, '-').slice(0, 19)}.json`);
mkdirSync(path.dirname(out), { recursive: true });
writeFileSync(out, JSON.stringify(results, null, 2));
process.stdout.write(`\nresults: ${path.relative(process.cwd(), out)}\n`);
if (profileRoot) process.stdout.write(`profiles: ${profileRoot}/<target>/<run>.{cpuprofile,txt}\n`);
