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
 *   npm run build && node bench/engine/prefill-stall.mjs [--chunks 512,64,16] [--prompt-tokens 3000]
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
import { sseData } from './sse-client.mjs';

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
    'usage: node bench/engine/prefill-stall.mjs [--chunks 512,64,16] [--prompt-tokens N] [--rounds N] [--threads N] [--model FILE]\n',
  );
  process.exit(0);
}
const chunks = flags.chunks.split(',').map(Number);
const promptTokens = Number(flags['prompt-tokens']);
const rounds = Number(flags.rounds);
if (chunks.some((c) => !Number.isInteger(c) || c < 1) || !(promptTokens > 0) || !(rounds > 0)) {
  throw new Error('--chunks takes integers ≥ 1; --prompt-tokens and --rounds numbers > 0');
}
const work = mkdtempSync(path.join(os.tmpdir(), 'edgefleet-prefill-'));
const say = (text) => process.stderr.write(`[prefill ${new Date().toISOString().slice(11, 19)}] ${text}\n`);
const cli = path.join(root, 'bin/edgefleet.js');

async function benchModel() {
  if (flags.model) return path.resolve(flags.model);
  const out = path.join(root, '.cache', 'bench-114m.gguf');
  if (existsSync(out)) return out;
  mkdirSync(path.dirname(out), { recursive: true });
  const args = ['dev', 'make-model', '--out', out, '--layers', '12', '--hidden', '768', '--heads', '12'];
  args.push('--ffn', '3072', '--type', 'q8_0');
  say(`generating the model: edgefleet ${args.join(' ')}`);
  await runCommand(process.execPath, [cli, ...args], { logFile: path.join(work, 'make-model.log') });
  return out;
}

/** POST /v1/completions, streamed; the time of every content chunk (ms from the start). */
async function stream(baseUrl, body, signal, onChunk = () => undefined) {
  const start = performance.now();
  const response = await fetch(`${baseUrl}/v1/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'bench', temperature: 0, stream: true, ignore_eos: true, ...body }),
    signal,
  });
  if (!response.ok) throw new Error(`${response.status} ${await response.text()}`);
  const times = [];
  try {
    for await (const data of sseData(response.body)) {
      if (data === '[DONE]') break;
      const event = JSON.parse(data);
      if (event.error) throw new Error(`stream error: ${JSON.stringify(event.error)}`);
      if (event.choices?.[0]?.text) {
        times.push(performance.now() - start);
        onChunk(times.length);
      }
    }
  } catch (error) {
    if (!signal?.aborted) throw error;
  }
  return { start, times };
}

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
  const a = stream(baseUrl, { prompt: 'hello', max_tokens: 3000 }, stopA.signal, (n) => {
    if (n === 20) startB();
  });
  await bStarted;
  const b = await stream(baseUrl, { prompt: `${performance.now()} ${prompt}`, max_tokens: 1 });
  const bEnd = b.start + (b.times.at(-1) ?? 0);
  await new Promise((resolve) => setTimeout(resolve, 300));
  stopA.abort();
  const { start, times } = await a;
  const at = times.map((t) => start + t);
  const gaps = (from, to) => {
    const inside = at.filter((t) => t >= from && t <= to);
    const before = at.filter((t) => t < from).at(-1);
    const after = at.find((t) => t > to);
    const points = [before, ...inside, after].filter((t) => t !== undefined);
    return points.slice(1).map((t, i) => t - points[i]);
  };
  const alone = gaps(at[0], b.start).sort((x, y) => x - y);
  const during = gaps(b.start, bEnd);
  return {
    aloneGapMs: alone[Math.floor(alone.length / 2)],
    maxGapMs: Math.max(...during),
    meanGapMs: during.reduce((s, g) => s + g, 0) / during.length,
    tokensDuringB: at.filter((t) => t >= b.start && t <= bEnd).length,
    bMs: bEnd - b.start,
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
        await stream(baseUrl, { prompt: 'warm up', max_tokens: 8 });
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
