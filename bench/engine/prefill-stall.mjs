#!/usr/bin/env node
/**
 * Chunked prefill in the embedded engine: how long a long prompt holds back a stream that is generating.
 *
 * For each `--prefill-chunk` value, one `edgefleet engine` (2 slots): stream A generates; once it has
 * produced 20 tokens, request B sends a long prompt (max_tokens 1). Measured: A's time between tokens
 * before B (its pace alone), the longest gap and the mean gap while B's prompt is evaluated, how many
 * tokens A got meanwhile, and B's time to its answer (its prefill, slowed by sharing steps with A).
 * Rounds alternate the chunk values so that the machine's drift falls on all of them alike.
 *
 *   npm run build && node bench/engine/prefill-stall.mjs [--chunks 512,64,16,auto] [--prompt-tokens 3000]
 *     [--rounds 3] [--threads 1] [--model FILE.gguf]
 *
 * Without --model it generates the engine benchmark's ~114M-parameter model (run.mjs) into .cache/.
 */
import { existsSync, mkdirSync, mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { freePort, runCommand, startProcess, stopProcess, waitForHealth } from './processes.mjs';
import { benchModelArgs } from './bench-model.mjs';
import { streamCompletion } from './sse-client.mjs';

const root = path.resolve(import.meta.dirname, '../..');
const { values: flags } = parseArgs({
  options: {
    chunks: { type: 'string', default: '512,64,16' },
    'prompt-tokens': { type: 'string', default: '3000' },
    rounds: { type: 'string', default: '3' },
    threads: { type: 'string', default: '1' },
    model: { type: 'string' },
    help: { type: 'boolean' },
  },
});
if (flags.help) {
  process.stdout.write(
    'usage: node bench/engine/prefill-stall.mjs [--chunks 512,64,16,auto] [--prompt-tokens N] [--rounds N] [--threads N] [--model FILE]\n',
  );
  process.exit(0);
}
const chunks = flags.chunks.split(',').map((c) => (c === 'auto' ? c : Number(c)));
const promptTokens = Number(flags['prompt-tokens']);
const rounds = Number(flags.rounds);
if (
  chunks.some((c) => c !== 'auto' && (!Number.isInteger(c) || c < 1)) ||
  !(promptTokens > 0) ||
  !(rounds > 0)
) {
  throw new Error('--chunks takes integers ≥ 1 and auto; --prompt-tokens and --rounds numbers > 0');
}
const work = mkdtempSync(path.join(os.tmpdir(), 'edgefleet-prefill-'));
const say = (text) => process.stderr.write(`[prefill ${new Date().toISOString().slice(11, 19)}] ${text}\n`);
const cli = path.join(root, 'bin/edgefleet.js');

async function benchModel() {
  if (flags.model) return path.resolve(flags.model);
  const out = path.join(root, '.cache', 'bench-114m.gguf');
  if (existsSync(out)) return out;
  mkdirSync(path.dirname(out), { recursive: true });
  const args = benchModelArgs(out);
  say(`generating the model: edgefleet ${args.join(' ')}`);
  await runCommand(process.execPath, [cli, ...args], { logFile: path.join(work, 'make-model.log') });
  return out;
}

/** A streamed completion of `maxTokens` tokens for `prompt` (streamCompletion's options). */
const request = (baseUrl, prompt, maxTokens) => ({
  baseUrl,
  model: 'bench',
  prompt,
  maxTokens,
  timeoutMs: 600_000,
});

/** A prompt of about `tokens` tokens, counted by the engine's own tokenizer. */
async function longPrompt(baseUrl, tokens) {
  const unit = 'the quick brown fox jumps over the lazy dog. ';
  const count = async (text) => {
    const response = await fetch(`${baseUrl}/v1/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'bench', prompt: text, max_tokens: 1 }),
    });
    return (await response.json()).usage.prompt_tokens;
  };
  const perUnit = (await count(unit.repeat(20))) / 20;
  return unit.repeat(Math.max(1, Math.round(tokens / perUnit)));
}

async function measure(baseUrl, prompt) {
  const stopA = new AbortController();
  let startB;
  const bStarted = new Promise((resolve) => (startB = resolve));
  const at = []; // when each of A's tokens arrived
  const a = streamCompletion({
    ...request(baseUrl, 'hello', 3000),
    signal: stopA.signal,
    onToken: () => {
      if (at.push(performance.now()) === 20) startB();
    },
  }).catch((error) => {
    if (!stopA.signal.aborted) throw error;
  });
  await bStarted;
  const bStart = performance.now();
  const b = await streamCompletion(request(baseUrl, `${performance.now()} ${prompt}`, 1));
  const bEnd = bStart + b.lastTokenMs;
  await new Promise((resolve) => setTimeout(resolve, 300));
  stopA.abort();
  await a;
  const gaps = (from, to) => {
    const inside = at.filter((t) => t >= from && t <= to);
    const before = at.filter((t) => t < from).at(-1);
    const after = at.find((t) => t > to);
    const points = [before, ...inside, after].filter((t) => t !== undefined);
    return points.slice(1).map((t, i) => t - points[i]);
  };
  const alone = gaps(at[0], bStart).sort((x, y) => x - y);
  const during = gaps(bStart, bEnd);
  return {
    aloneGapMs: alone[Math.floor(alone.length / 2)],
    maxGapMs: Math.max(...during),
    meanGapMs: during.reduce((s, g) => s + g, 0) / during.length,
    tokensDuringB: at.filter((t) => t >= bStart && t <= bEnd).length,
    bMs: bEnd - bStart,
  };
}

const median = (values) => [...values].sort((x, y) => x - y)[Math.floor(values.length / 2)];

async function main() {
  const modelPath = await benchModel();
  const results = new Map(chunks.map((c) => [c, []]));
  let prompt;
  for (let round = 1; round <= rounds; round += 1) {
    for (const chunk of round % 2 === 1 ? chunks : [...chunks].reverse()) {
      const port = await freePort();
      const args = ['engine', '--model', modelPath, '--model-id', 'bench', '--port', String(port)];
      args.push('--threads', flags.threads, '--parallel', '2', '--context', '4096');
      args.push('--prefill-chunk', String(chunk));
      const proc = startProcess(process.execPath, [cli, ...args], {
        logFile: path.join(work, `engine-${chunk}-${round}.log`),
      });
      try {
        const baseUrl = `http://127.0.0.1:${port}`;
        await waitForHealth(`${baseUrl}/health`, proc, 120_000);
        prompt ??= await longPrompt(baseUrl, promptTokens);
        await streamCompletion(request(baseUrl, 'warm up', 8));
        const result = await measure(baseUrl, prompt);
        results.get(chunk).push(result);
        say(
          `round ${round}, --prefill-chunk ${chunk}: ${JSON.stringify(result, (k, v) => (typeof v === 'number' ? Math.round(v) : v))}`,
        );
      } finally {
        await stopProcess(proc);
      }
    }
  }
  const rows = [
    '| --prefill-chunk | A alone: ms per token | A during B: longest gap ms | A during B: mean gap ms | A tokens during B | B: prompt to answer ms |',
    '| --------------: | --------------------: | -------------------------: | ----------------------: | ----------------: | ---------------------: |',
  ];
  for (const [chunk, list] of results) {
    const cell = (key, digits = 0) => median(list.map((r) => r[key])).toFixed(digits);
    rows.push(
      `| ${chunk} | ${cell('aloneGapMs', 1)} | ${cell('maxGapMs')} | ${cell('meanGapMs', 1)} | ${cell('tokensDuringB')} | ${cell('bMs')} |`,
    );
  }
  process.stdout.write(
    `${rows.join('\n')}\n\nmedians of ${rounds} round(s); prompt ~${promptTokens} tokens; logs in ${work}\n`,
  );
}

main().catch((error) => {
  process.stderr.write(`${error.stack ?? error}\n`);
  process.exit(1);
});
