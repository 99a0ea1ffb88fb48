#!/usr/bin/env node
/**
 * Paired A/B of the gateway's CPU per request: this tree's build and another build (`--base`, the `dist/`
 * of another checkout) run as two gateway processes at the same time, through one upstream, each loaded
 * by its own wrk. Both see the same machine at the same moment, so the machine's drift (which moves a
 * single run's CPU per request by ±20 % here) cancels out of their ratio. Which gateway's load starts
 * first alternates by round: the second had a small edge in A/A runs (the same build on both sides).
 *
 *   npm run build && node bench/gateway/paired.mjs --base OTHER/dist [--rounds 8] [--duration-s 6]
 *   node bench/gateway/paired.mjs --sides bare-undici,raw-client [--rounds 8]
 *
 * OTHER is a checkout of EdgeFleet with its `dist/` built, e.g.
 *   git worktree add /tmp/edgefleet-base <rev> && (cd /tmp/edgefleet-base && npm ci && npm run build)
 * Both gateways are wired by this tree's bench/gateway/gateway.mjs (`--dist`), with the interval journal.
 * With `--sides BASE,NEW` the two sides are named instead: `gateway` (this tree's), or one of the bench's
 * bare proxies `bare`, `bare-undici`, `raw-client`, `raw-net` (run.mjs --help says what each is).
 * Prints each round and the median and geometric mean of new ÷ base CPU µs per request.
 */
import path from 'node:path';
import { parseArgs } from 'node:util';
import { cpuSeconds, runWrk, startBareProxy, startNode, stopNode } from './processes.mjs';

const { values: flags } = parseArgs({
  options: {
    base: { type: 'string' },
    sides: { type: 'string' },
    rounds: { type: 'string', default: '8' },
    'duration-s': { type: 'string', default: '6' },
    connections: { type: 'string', default: '32' },
  },
  strict: true,
});
const named = flags.sides?.split(',');
if (named ? named.length !== 2 || flags.base : !flags.base) {
  process.stderr.write(
    'usage: node bench/gateway/paired.mjs --base OTHER/dist | --sides BASE,NEW [--rounds N] [--duration-s S]\n',
  );
  process.exit(2);
}
const rounds = Number(flags.rounds);
const seconds = Number(flags['duration-s']);
const connections = Number(flags.connections);
const body = JSON.stringify({
  model: 'bench',
  messages: [{ role: 'user', content: 'Say hello.' }],
  max_tokens: 16,
});

/** Requests wrk completed against `port` in `durationS`. */
async function load(port, durationS) {
  const env = { BENCH_PATH: '/v1/chat/completions', BENCH_BODY: body };
  const args = ['-t1', `-c${connections}`, `-d${durationS}s`];
  return (await runWrk(args, `http://127.0.0.1:${port}`, env)).requests;
}

const upstream = startNode('upstream.mjs', []);
const upstreamUrl = `http://127.0.0.1:${await upstream.port}`;
const gateway = (dist) =>
  startNode('gateway.mjs', [
    '--upstream',
    upstreamUrl,
    '--journal-sync',
    'interval',
    ...(dist ? ['--dist', dist] : []),
  ]);
/** A side named in --sides: this tree's gateway or one of the bench's bare proxies. */
const side = (name) => {
  const proc = name === 'gateway' ? gateway(undefined) : startBareProxy(name, upstreamUrl);
  if (!proc) throw new Error(`--sides: unknown side ${name}`);
  return proc;
};
const sides = named
  ? { base: side(named[0]), new: side(named[1]) }
  : { base: gateway(path.resolve(flags.base)), new: gateway(undefined) };
const ports = { base: await sides.base.port, new: await sides.new.port };

// Warm-up: V8 optimizes both before anything is measured.
await Promise.all([load(ports.base, 8), load(ports.new, 8)]);
const ratios = [];
for (let round = 1; round <= rounds; round++) {
  const order = round % 2 === 1 ? ['base', 'new'] : ['new', 'base'];
  const before = { base: cpuSeconds(sides.base.child.pid), new: cpuSeconds(sides.new.child.pid) };
  const counts = {};
  await Promise.all(order.map(async (side) => (counts[side] = await load(ports[side], seconds))));
  const us = (side) => ((cpuSeconds(sides[side].child.pid) - before[side]) * 1e6) / counts[side];
  const ratio = us('new') / us('base');
  ratios.push(ratio);
  process.stdout.write(
    `round ${round} (${order[0]} first): base ${counts.base} req ${us('base').toFixed(0)} µs/req, ` +
      `new ${counts.new} req ${us('new').toFixed(0)} µs/req, new/base ${ratio.toFixed(3)}\n`,
  );
}
const sorted = [...ratios].sort((a, b) => a - b);
const median = (sorted[(sorted.length - 1) >> 1] + sorted[sorted.length >> 1]) / 2;
const geomean = Math.exp(ratios.reduce((s, r) => s + Math.log(r), 0) / ratios.length);
process.stdout.write(
  `new/base CPU per request: median ${median.toFixed(3)}, geometric mean ${geomean.toFixed(3)}, ` +
    `range ${sorted[0].toFixed(3)}–${sorted.at(-1).toFixed(3)} (${rounds} rounds)\n`,
);
// SIGTERM: each gateway removes its journal directory before it exits.
await Promise.all([sides.base, sides.new, upstream].map(stopNode));
