#!/usr/bin/env node
/**
 * Paired A/B of the gateway's CPU per request: this tree's build and another build (`--base`, the `dist/`
 * of another checkout) run as two gateway processes at the same time, through one upstream, each loaded
 * by its own wrk. Both see the same machine at the same moment, so the machine's drift (which moves a
 * single run's CPU per request by ±20 % here) cancels out of their ratio. Which gateway's load starts
 * first alternates by round: the second had a small edge in A/A runs (the same build on both sides).
 *
 *   npm run build && node bench/gateway/paired.mjs --base OTHER/dist [--rounds 8] [--duration-s 6]
 *
 * OTHER is a checkout of EdgeFleet with its `dist/` built, e.g.
 *   git worktree add /tmp/edgefleet-base <rev> && (cd /tmp/edgefleet-base && npm ci && npm run build)
 * Both gateways are wired by this tree's bench/gateway/gateway.mjs (`--dist`), with the interval journal.
 * Prints each round and the median and geometric mean of new ÷ base CPU µs per request.
 */
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const here = path.dirname(fileURLToPath(import.meta.url));
const { values: flags } = parseArgs({
  options: {
    base: { type: 'string' },
    rounds: { type: 'string', default: '8' },
    'duration-s': { type: 'string', default: '6' },
    connections: { type: 'string', default: '32' },
  },
  strict: true,
});
if (!flags.base) {
  process.stderr.write(
    'usage: node bench/gateway/paired.mjs --base OTHER/dist [--rounds N] [--duration-s S]\n',
  );
  process.exit(2);
}
const rounds = Number(flags.rounds);
const seconds = Number(flags['duration-s']);
const connections = Number(flags.connections);
const clkTck = Number(spawnSync('getconf', ['CLK_TCK']).stdout.toString().trim() || 100);
const children = new Set();
process.on('exit', () => {
  for (const child of children) child.kill('SIGKILL');
});

/** A node script of this directory; resolves its port once it prints `listening N`. */
function start(script, args) {
  const child = spawn(process.execPath, [path.join(here, script), ...args], {
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  children.add(child);
  let out = '';
  const port = new Promise((resolve, reject) => {
    child.stdout.on('data', (d) => {
      out += d;
      const match = /listening (\d+)/.exec(out);
      if (match) resolve(Number(match[1]));
    });
    child.on('exit', (code) => reject(new Error(`${script} exited ${code}`)));
  });
  return { child, port };
}

function cpuSeconds(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / clkTck;
}

const body = JSON.stringify({
  model: 'bench',
  messages: [{ role: 'user', content: 'Say hello.' }],
  max_tokens: 16,
});

/** Requests wrk completed against `port` in `durationS`. */
async function load(port, durationS) {
  const env = { ...process.env, BENCH_PATH: '/v1/chat/completions', BENCH_BODY: body };
  const args = ['-t1', `-c${connections}`, `-d${durationS}s`, '-s', path.join(here, 'wrk.lua')];
  const child = spawn('wrk', [...args, `http://127.0.0.1:${port}`], {
    env,
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  children.add(child);
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  await once(child, 'exit');
  children.delete(child);
  const line = out.split('\n').find((l) => l.startsWith('WRKJSON '));
  if (!line) throw new Error(`wrk printed no result: ${out}`);
  return JSON.parse(line.slice('WRKJSON '.length)).requests;
}

const upstream = start('upstream.mjs', []);
const upstreamUrl = `http://127.0.0.1:${await upstream.port}`;
const gateway = (dist) =>
  start('gateway.mjs', [
    '--upstream',
    upstreamUrl,
    '--journal-sync',
    'interval',
    ...(dist ? ['--dist', dist] : []),
  ]);
const sides = { base: gateway(path.resolve(flags.base)), new: gateway(undefined) };
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
await Promise.all(
  [...children].map((child) => {
    child.kill('SIGTERM');
    return once(child, 'exit');
  }),
);
