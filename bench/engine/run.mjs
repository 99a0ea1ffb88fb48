#!/usr/bin/env node
/**
 * Engine benchmark: EdgeFleet's embedded engine against llama.cpp's own llama-server and llama-bench, on the
 * same model, at the same thread count, in one run.
 *
 *   npm run build && scripts/build-llama-cpp.sh && node bench/engine/run.mjs [options]
 *
 * See docs/benchmarks.md for what is measured. Options: --help.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import {
  freePort,
  runCommand,
  startCpuMeter,
  startProcess,
  stopProcess,
  waitForHealth,
  waitForQuiet,
} from './processes.mjs';
import { runLoad, summarize } from './sse-client.mjs';
import { markdownReport } from './report.mjs';
import { benchModelArgs, benchModelDescription } from './bench-model.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const help = `usage: node bench/engine/run.mjs [options]

Measures one generated ~114M-parameter Q8_0 model with llama-bench, llama-server and \`edgefleet up\`, at
each thread count, at 1 and 4 concurrent streams.
  --model FILE        use this GGUF instead of generating bench-100m.gguf
  --requests N        measured requests per (engine, threads, streams) run (default 16)
  --threads LIST      thread counts, comma-separated (default 1,2)
  --streams LIST      concurrency levels (default 1,4)
  --engines LIST      any of llama-bench,llama-server,edgefleet (default all three)
  --llama-dir DIR     where scripts/build-llama-cpp.sh put bin/ (default .cache/llama.cpp)
  --prompt-tokens N   prompt length to aim for (default 64)
  --max-tokens N      completion tokens per request, with ignore_eos (default 128)
  --context N         context tokens per slot (default 2048; llama-server gets -c 4*N with -np 4)
  --timeout-s N       per-request timeout (default 120)
  --deadline-min N    abort the whole benchmark after N minutes (default 45)
  --max-other-load C  CPU cores other processes may use during a measurement before it is repeated
                      (default 0.25; the machine's busy time minus the benchmark's own processes)
  --retries N         repeats of a disturbed measurement; the least disturbed is kept (default 2)
  --quiet-wait-s N    wait up to N s for the machine to be quiet before each measurement (default 120)
  --out FILE          JSON results (default bench/results/engine-<date>.json)
  --keep              keep the temporary directory (generated model, server logs)
`;

const { values: flags } = parseArgs({
  options: {
    model: { type: 'string' },
    requests: { type: 'string', default: '16' },
    threads: { type: 'string', default: '1,2' },
    streams: { type: 'string', default: '1,4' },
    engines: { type: 'string', default: 'llama-bench,llama-server,edgefleet' },
    'llama-dir': { type: 'string', default: path.join(root, '.cache/llama.cpp') },
    'prompt-tokens': { type: 'string', default: '64' },
    'max-tokens': { type: 'string', default: '128' },
    context: { type: 'string', default: '2048' },
    'timeout-s': { type: 'string', default: '120' },
    'deadline-min': { type: 'string', default: '45' },
    'max-other-load': { type: 'string', default: '0.25' },
    retries: { type: 'string', default: '2' },
    'quiet-wait-s': { type: 'string', default: '120' },
    out: { type: 'string' },
    keep: { type: 'boolean' },
    help: { type: 'boolean' },
  },
  strict: true,
});
if (flags.help) {
  process.stdout.write(help);
  process.exit(0);
}

const positiveInt = (text, name) => {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1) throw new Error(`--${name} must be a positive integer, got "${text}"`);
  return n;
};
const intList = (text, name) => text.split(',').map((part) => positiveInt(part.trim(), name));

const config = {
  requests: positiveInt(flags.requests, 'requests'),
  threads: intList(flags.threads, 'threads'),
  streams: intList(flags.streams, 'streams'),
  engines: flags.engines.split(',').map((e) => e.trim()),
  promptTokens: positiveInt(flags['prompt-tokens'], 'prompt-tokens'),
  maxTokens: positiveInt(flags['max-tokens'], 'max-tokens'),
  context: positiveInt(flags.context, 'context'),
  parallel: 4,
  timeoutMs: positiveInt(flags['timeout-s'], 'timeout-s') * 1000,
  maxOtherLoad: Number(flags['max-other-load']),
  retries: Number(flags.retries),
  quietWaitMs: Number(flags['quiet-wait-s']) * 1000,
};
if (!(config.maxOtherLoad >= 0) || !Number.isInteger(config.retries) || config.retries < 0) {
  throw new Error('--max-other-load must be a number >= 0 and --retries an integer >= 0');
}
for (const engine of config.engines) {
  if (!['llama-bench', 'llama-server', 'edgefleet'].includes(engine))
    throw new Error(`unknown engine "${engine}"`);
}
const llamaBin = path.join(path.resolve(flags['llama-dir']), 'bin');
const work = mkdtempSync(path.join(os.tmpdir(), 'edgefleet-bench-'));
const logDir = path.join(work, 'logs');
mkdirSync(logDir);

const deadline = setTimeout(
  () => {
    process.stderr.write(`bench: deadline of ${flags['deadline-min']} min reached, stopping\n`);
    process.exit(3); // the exit hook in processes.mjs kills every child
  },
  Number(flags['deadline-min']) * 60_000,
);
deadline.unref();

const say = (text) => process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${text}\n`);
const edgefleet = (args, options) =>
  runCommand(process.execPath, [path.join(root, 'bin/edgefleet.js'), ...args], options);

async function main() {
  const usesLlama = config.engines.some((e) => e.startsWith('llama-'));
  if (usesLlama) {
    for (const binary of ['llama-bench', 'llama-server']) {
      if (config.engines.includes(binary) && !existsSync(path.join(llamaBin, binary))) {
        throw new Error(`${path.join(llamaBin, binary)} is missing: run scripts/build-llama-cpp.sh first`);
      }
    }
  }
  if (config.engines.includes('edgefleet') && !existsSync(path.join(root, 'dist/cli/main.js'))) {
    throw new Error('dist/ is missing: run npm run build first');
  }

  const modelPath = flags.model ? path.resolve(flags.model) : await makeModel();
  const environment = describeMachine(modelPath);
  if (!flags.model) {
    environment.modelDescription = benchModelDescription;
  }
  say(`model ${modelPath} (${(environment.modelBytes / 1e6).toFixed(1)} MB); logs in ${logDir}`);

  const runs = [];
  const benches = [];
  const failures = [];
  let prompts;
  for (const threads of config.threads) {
    if (config.engines.includes('llama-bench')) {
      const { value, cpu, attempts } = await quietly(undefined, () => llamaBench(modelPath, threads));
      benches.push({ ...value, cpu, attempts });
    }
    for (const engine of ['llama-server', 'edgefleet']) {
      if (!config.engines.includes(engine)) continue;
      let server;
      try {
        server = await startServer(engine, modelPath, threads);
      } catch (error) {
        // Keep what was measured so far (the other engine) and say exactly what failed.
        say(`  ${engine} failed to start: ${error.message}`);
        failures.push({
          engine,
          threads,
          stage: 'start',
          error: error.message,
          log: tailOf(logFileOf(engine, threads)),
        });
        continue;
      }
      try {
        prompts ??= await calibratePrompts(server);
        for (const streams of config.streams) {
          say(`${engine} threads=${threads} streams=${streams}: ${config.requests} requests`);
          const {
            value: load,
            cpu,
            attempts,
          } = await quietly(server.proc.child.pid, async () => {
            const warm = prompts.next(streams);
            await runLoad({
              ...server,
              prompts: warm,
              maxTokens: 8,
              timeoutMs: config.timeoutMs,
              concurrency: streams,
            });
            return runLoad({
              ...server,
              prompts: prompts.next(config.requests),
              maxTokens: config.maxTokens,
              timeoutMs: config.timeoutMs,
              concurrency: streams,
            });
          });
          const summary = summarize(load);
          if (summary.failed > 0) {
            say(`  ${summary.failed} of ${summary.requests} requests failed: ${summary.errors.join(' | ')}`);
            if (summary.failed === summary.requests) {
              failures.push({
                engine,
                threads,
                streams,
                stage: 'requests',
                error: summary.errors.join(' | '),
              });
              continue;
            }
          }
          say(
            `  TTFT ${summary.meanTtftMs.toFixed(1)} ms (max ${summary.maxTtftMs.toFixed(1)}), TPOT ` +
              `${summary.meanTpotMs.toFixed(2)} ms, ${summary.aggregateTokS.toFixed(1)} tok/s aggregate, ` +
              `other processes ${cpu?.otherCores.toFixed(2) ?? '?'} cores`,
          );
          if (!summary.usageReported)
            say('  warning: some streams had no usage chunk; counted chunks instead');
          if (summary.resentRequests > 0) {
            say(
              `  note: ${summary.resentRequests} requests were sent again after a closed keep-alive connection`,
            );
          }
          if (summary.chunkUsageMismatches > 0) {
            say(
              `  note: ${summary.chunkUsageMismatches} streams had a content-chunk count different from usage.completion_tokens`,
            );
          }
          runs.push({ engine, threads, streams, summary, cpu, attempts, requests: load.results });
        }
      } catch (error) {
        say(`  ${engine} failed: ${error.message}`);
        failures.push({
          engine,
          threads,
          stage: 'run',
          error: error.message,
          log: tailOf(logFileOf(engine, threads)),
        });
      } finally {
        const stopped = await stopProcess(server.proc);
        if (stopped.forced) say(`  warning: ${engine} did not stop within 15 s of SIGTERM; killed`);
        else if (engine === 'edgefleet' && stopped.code !== 0) {
          say(`  warning: ${engine} exited with ${stopped.code ?? stopped.signal} after SIGTERM`);
        }
        runs.filter((r) => r.engine === engine && r.threads === threads).forEach((r) => (r.stop = stopped));
      }
    }
  }

  const result = {
    date: new Date().toISOString(),
    command: `node bench/engine/run.mjs ${process.argv.slice(2).join(' ')}`.trim(),
    config,
    environment,
    prompt: prompts && {
      targetTokens: config.promptTokens,
      tokens: prompts.tokens,
      example: prompts.example,
    },
    llamaBench: benches,
    runs,
    failures,
  };
  result.ratios = ratios(runs);
  const report = markdownReport(result);
  process.stdout.write(`${report}\n`);

  const out = flags.out
    ? path.resolve(flags.out)
    : path.join(root, 'bench/results', `engine-${result.date.slice(0, 19).replace(/:/g, '-')}.json`);
  mkdirSync(path.dirname(out), { recursive: true });
  writeFileSync(out, `${JSON.stringify(result, null, 2)}\n`);
  say(`results written to ${path.relative(process.cwd(), out)}`);
  return failures.length === 0;
}

/**
 * Runs `fn` when the rest of the machine is quiet, and again (up to --retries times) when other processes
 * used more than --max-other-load cores meanwhile; keeps the attempt the others disturbed least.
 */
async function quietly(rootPid, fn) {
  let best;
  const attempts = [];
  for (let attempt = 1; attempt <= 1 + config.retries; attempt++) {
    let warned = false;
    await waitForQuiet(config.maxOtherLoad, config.quietWaitMs, rootPid, (other) => {
      if (!warned) say(`  waiting for other processes to calm down (${other.toFixed(2)} cores busy)`);
      warned = true;
    });
    const meter = startCpuMeter(rootPid);
    const value = await fn();
    const cpu = meter.stop();
    attempts.push(cpu?.otherCores);
    if (!best || !cpu || cpu.otherCores < best.cpu.otherCores) best = { value, cpu };
    if (!cpu || cpu.otherCores <= config.maxOtherLoad) break;
    say(
      `  other processes used ${cpu.otherCores.toFixed(2)} cores during this measurement; ` +
        (attempt <= config.retries ? 'repeating it' : 'keeping the least disturbed attempt'),
    );
  }
  return { ...best, attempts };
}

async function makeModel() {
  const out = path.join(work, 'bench-100m.gguf');
  const args = benchModelArgs(out);
  say(`generating the model: edgefleet ${args.join(' ')}`);
  const started = Date.now();
  await edgefleet(args, { timeoutMs: 300_000, logFile: path.join(logDir, 'make-model.log') });
  say(`  done in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return out;
}

function describeMachine(modelPath) {
  const cpuinfo = existsSync('/proc/cpuinfo') ? readFileSync('/proc/cpuinfo', 'utf8') : '';
  const read = (file) => (existsSync(file) ? readFileSync(file, 'utf8').trim() : undefined);
  const pkg = (name) => {
    try {
      return JSON.parse(readFileSync(path.join(root, 'node_modules', name, 'package.json'), 'utf8')).version;
    } catch {
      return undefined;
    }
  };
  return {
    cpu: /model name\s*:\s*(.*)/.exec(cpuinfo)?.[1] ?? os.cpus()[0]?.model,
    cpuFlags: ['avx2', 'avx512f', 'avx512_vnni', 'amx_int8', 'f16c', 'fma'].filter((f) =>
      new RegExp(`\\b${f}\\b`).test(cpuinfo),
    ),
    cores: os.availableParallelism(),
    memoryGiB: +(os.totalmem() / 2 ** 30).toFixed(1),
    node: process.version,
    edgefleet: JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')).version,
    nodeLlamaCpp: pkg('node-llama-cpp'),
    llamaCppCommit: read(path.join(llamaBin, '.stamp')),
    model: modelPath,
    modelBytes: statSync(modelPath).size,
  };
}

async function llamaBench(modelPath, threads) {
  const prompt = config.promptTokens;
  const args = ['-m', modelPath, '-t', String(threads), '-p', String(prompt), '-n', String(config.maxTokens)];
  args.push('-r', '5', '-o', 'json');
  say(`llama-bench ${args.join(' ')}`);
  const { stdout } = await runCommand(path.join(llamaBin, 'llama-bench'), args, {
    timeoutMs: 600_000,
    logFile: path.join(logDir, `llama-bench-t${threads}.log`),
  });
  const rows = JSON.parse(stdout);
  const pick = (predicate) => rows.find(predicate);
  const pp = pick((r) => r.n_prompt > 0 && r.n_gen === 0);
  const tg = pick((r) => r.n_prompt === 0 && r.n_gen > 0);
  const entry = {
    threads,
    command: `llama-bench ${args.join(' ')}`,
    build: rows[0] && {
      commit: rows[0].build_commit,
      number: rows[0].build_number,
      cpuInfo: rows[0].cpu_info,
    },
    pp: pp && { tokens: pp.n_prompt, tokS: pp.avg_ts, stddev: pp.stddev_ts },
    tg: tg && { tokens: tg.n_gen, tokS: tg.avg_ts, stddev: tg.stddev_ts },
  };
  say(
    `  pp${prompt} ${entry.pp?.tokS.toFixed(1)} tok/s, tg${config.maxTokens} ${entry.tg?.tokS.toFixed(1)} tok/s`,
  );
  return entry;
}

const logFileOf = (engine, threads) => path.join(logDir, `${engine}-t${threads}.log`);
const tailOf = (file) =>
  existsSync(file) ? readFileSync(file, 'utf8').split('\n').slice(-30).join('\n') : '';

async function startServer(engine, modelPath, threads) {
  const port = await freePort();
  const baseUrl = `http://127.0.0.1:${port}`;
  const logFile = logFileOf(engine, threads);
  let proc;
  if (engine === 'llama-server') {
    const args = ['-m', modelPath, '-t', String(threads), '-np', String(config.parallel)];
    args.push('-c', String(config.parallel * config.context), '--port', String(port), '--host', '127.0.0.1');
    args.push('--metrics');
    say(`llama-server ${args.join(' ')}`);
    proc = startProcess(path.join(llamaBin, 'llama-server'), args, { logFile });
  } else {
    const home = path.join(work, 'home');
    const args = ['up', '--model', modelPath, '--port', String(port), '--threads', String(threads)];
    args.push('--parallel', String(config.parallel), '--context', String(config.context));
    args.push('--home', home, '--offline');
    say(`edgefleet ${args.join(' ')}`);
    proc = startProcess(process.execPath, [path.join(root, 'bin/edgefleet.js'), ...args], { logFile });
  }
  const started = Date.now();
  await waitForHealth(`${baseUrl}/health`, proc, 180_000);
  const startupMs = Date.now() - started;
  let model = 'bench';
  if (engine === 'edgefleet') {
    const response = await fetch(`${baseUrl}/v1/models`, { signal: AbortSignal.timeout(5_000) });
    model = (await response.json()).data?.[0]?.id ?? model;
  }
  say(`  ready in ${(startupMs / 1000).toFixed(1)} s (pid ${proc.child.pid})`);
  return { engine, baseUrl, model, proc, startupMs };
}

/**
 * Prompts of about `promptTokens` tokens that never repeat and never share a prefix, so that neither server
 * can reuse a cached prompt: a unique three-letter tag ("Qabc: ") followed by one fixed text. The text's
 * length is calibrated once with the first server's `usage.prompt_tokens` (both servers tokenize with the
 * model's own tokenizer, and each run reports the prompt length it saw).
 */
let promptSerial = 0;
const promptTag = (n) =>
  `Q${[2, 1, 0].map((k) => String.fromCharCode(97 + (Math.floor(n / 26 ** k) % 26))).join('')}:`;

async function calibratePrompts(server) {
  const base = (
    'Cities grow along rivers because water carries goods, feeds fields, and powers mills; ' +
    'bridges join quarters, markets gather traders, schools teach children, clocks mark hours, ' +
    'harbours shelter boats, lamps light streets, parks offer shade, trains link valleys, ' +
    'libraries keep maps, bakers wake early, painters study light, sailors read winds'
  ).split(' ');
  const words = [];
  while (words.length < 2000) words.push(...base);
  const textOf = (n, tag) => `${tag} ${words.slice(0, n).join(' ')}`;
  const promptTokensOf = async (text) => {
    const response = await fetch(`${server.baseUrl}/v1/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: server.model, prompt: text, max_tokens: 1, temperature: 0 }),
      signal: AbortSignal.timeout(config.timeoutMs),
    });
    const body = await response.json();
    if (!response.ok || !body.usage)
      throw new Error(`calibration request failed: ${JSON.stringify(body).slice(0, 300)}`);
    return body.usage.prompt_tokens;
  };
  let n = 8;
  let tokens = await promptTokensOf(textOf(n, promptTag(0)));
  let best = { n, tokens };
  for (let i = 0; i < 8 && tokens !== config.promptTokens; i++) {
    const next = Math.min(words.length, Math.max(1, Math.round((n * config.promptTokens) / tokens)));
    n = next === n ? n + Math.sign(config.promptTokens - tokens) : next;
    if (n < 1 || n > words.length) break;
    tokens = await promptTokensOf(textOf(n, promptTag(0)));
    if (Math.abs(tokens - config.promptTokens) < Math.abs(best.tokens - config.promptTokens))
      best = { n, tokens };
  }
  say(`prompt: tag + ${best.n} words = ${best.tokens} tokens (target ${config.promptTokens})`);
  const next = (count) => Array.from({ length: count }, () => textOf(best.n, promptTag(++promptSerial)));
  return { tokens: best.tokens, words: best.n, example: textOf(best.n, promptTag(0)), next };
}

function ratios(runs) {
  const out = [];
  for (const efRun of runs.filter((r) => r.engine === 'edgefleet')) {
    const ref = runs.find(
      (r) => r.engine === 'llama-server' && r.threads === efRun.threads && r.streams === efRun.streams,
    );
    if (!ref) continue;
    const ef = efRun.summary;
    const ls = ref.summary;
    out.push({
      threads: efRun.threads,
      streams: efRun.streams,
      aggregateTokS: ef.aggregateTokS / ls.aggregateTokS,
      singleStreamDecodeTokS: ef.singleStreamDecodeTokS / ls.singleStreamDecodeTokS,
      meanTtft: ef.meanTtftMs / ls.meanTtftMs,
    });
  }
  return out;
}

main()
  .then((ok) => {
    if (flags.keep || !ok) say(`kept ${work}${ok ? '' : ' (something failed: see the logs there)'}`);
    else rmSync(work, { recursive: true, force: true });
    process.exit(ok ? 0 : 2);
  })
  .catch((error) => {
    process.stderr.write(`bench: ${error.stack ?? error}\nlogs kept in ${logDir}\n`);
    process.exit(1);
  });
