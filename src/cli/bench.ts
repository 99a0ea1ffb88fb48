/**
 * `edgefleet bench`: measures any OpenAI-compatible endpoint (TTFT, TPOT, ITL, E2E latency, throughput,
 * goodput) over a concurrency or request-rate sweep, prints a summary per step, writes the results JSON
 * (src/spec/bench-result.ts) and, with --report, the HTML report.
 */
import { constants } from 'node:fs';
import { access, writeFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { createRequire } from 'node:module';
import type { BenchStep } from '../spec/bench-result.js';
import { parseBenchOptions, type BenchFlagValues } from '../bench/bench-options.js';
import { parseDataset } from '../bench/dataset.js';
import { renderReport } from '../bench/report/render-report.js';
import { formatProgressLine } from '../bench/progress-line.js';
import { runBench } from '../bench/run-bench.js';
import { parseFlags, readFlagFile } from './parse-flags.js';
import { commandError } from './planner-format.js';
import { EdgeFleetError } from '../spec/edgefleet-error.js';

const HELP = `usage: edgefleet bench --url URL --model M [--api-key K]
                       (--concurrency 1,4,16 | --rate 1,2,5 [--arrival poisson|constant])
                       (--requests N | --duration S) [--prompt-tokens DIST] [--output-tokens DIST]
                       [--dataset FILE.jsonl] [--shared-prefix-tokens N] [--slo-ttft-ms X] [--slo-tpot-ms Y]
                       [--find-max-rate] [--out results.json] [--report report.html]

Benchmarks an OpenAI-compatible endpoint. Sends traffic only to URL (/v1/chat/completions or /v1/completions).

  --url URL                 base URL of the endpoint (with or without /v1)
  --model M                 model name to request
  --api-key K               bearer key (default: $EDGEFLEET_BENCH_API_KEY)
  --api chat|completions    which API to call (default chat)
  --concurrency LIST        closed loop: keep N requests in flight, one step per value (default 1)
  --rate LIST               open loop: start requests at R per second, one step per value
  --arrival poisson|constant  gaps between starts in rate mode (default poisson)
  --requests N              requests per step
  --duration S              seconds per step (no new request starts after S)
  --prompt-tokens DIST      prompt length: N, uniform:MIN-MAX or normal:MEAN,STD (default 256); sized
                            exactly against the engine's usage.prompt_tokens by probe requests
  --output-tokens DIST      output length (max_tokens, with ignore_eos) (default 128)
  --dataset FILE.jsonl      conversations instead of synthetic prompts (ShareGPT or OpenAI messages lines)
  --shared-prefix-tokens N  a system prompt of N tokens shared by every request (prefix caching/routing)
  --slo-ttft-ms X           SLO on time to first token; enables goodput
  --slo-tpot-ms Y           SLO on time per output token; enables goodput
  --find-max-rate           search the highest request rate whose goodput share ≥ --min-goodput
  --min-goodput S           share of requests that must meet the SLO (default 0.9)
  --no-ignore-eos           do not send ignore_eos (it is dropped automatically when the engine refuses it)
  --seed N                  seed of lengths, prompts and arrivals (default 0)
  --timeout-s S             per-request timeout (default 300)
  --out FILE                write the results JSON (vLLM benchmark_serving field names where they overlap)
  --report FILE             write the self-contained HTML report
  --json                    print the results JSON on stdout instead of the summary
`;

const flags = {
  url: { type: 'string' },
  model: { type: 'string' },
  'api-key': { type: 'string' },
  api: { type: 'string' },
  concurrency: { type: 'string' },
  rate: { type: 'string' },
  arrival: { type: 'string' },
  requests: { type: 'string' },
  duration: { type: 'string' },
  'prompt-tokens': { type: 'string' },
  'output-tokens': { type: 'string' },
  dataset: { type: 'string' },
  'shared-prefix-tokens': { type: 'string' },
  'slo-ttft-ms': { type: 'string' },
  'slo-tpot-ms': { type: 'string' },
  'find-max-rate': { type: 'boolean' },
  'min-goodput': { type: 'string' },
  'no-ignore-eos': { type: 'boolean' },
  seed: { type: 'string' },
  'timeout-s': { type: 'string' },
  out: { type: 'string' },
  report: { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

const ms = (value: number | null) => (value === null ? '-' : `${value.toFixed(1)} ms`);

/** The readable summary of one step. */
export function formatStep(step: BenchStep): string {
  const lines = [
    `${step.label}: ${step.completed} completed, ${step.failed} failed in ${step.duration.toFixed(2)} s`,
    `  throughput   ${step.request_throughput.toFixed(2)} req/s, ${step.output_throughput.toFixed(1)} output tok/s, ${step.total_token_throughput.toFixed(1)} total tok/s`,
    `  TTFT         mean ${ms(step.mean_ttft_ms)}  p50 ${ms(step.p50_ttft_ms)}  p90 ${ms(step.p90_ttft_ms)}  p99 ${ms(step.p99_ttft_ms)}`,
    `  TPOT         mean ${ms(step.mean_tpot_ms)}  p50 ${ms(step.p50_tpot_ms)}  p90 ${ms(step.p90_tpot_ms)}  p99 ${ms(step.p99_tpot_ms)}`,
    `  ITL          mean ${ms(step.mean_itl_ms)}  p50 ${ms(step.p50_itl_ms)}  p90 ${ms(step.p90_itl_ms)}  p99 ${ms(step.p99_itl_ms)}`,
    `  E2E latency  mean ${ms(step.mean_e2el_ms)}  p50 ${ms(step.p50_e2el_ms)}  p90 ${ms(step.p90_e2el_ms)}  p99 ${ms(step.p99_e2el_ms)}`,
    `  tokens       ${step.total_input_tokens} in, ${step.total_output_tokens} out (${step.token_count_source})`,
  ];
  if (step.goodput_share !== null) {
    lines.push(
      `  goodput      ${(step.goodput_share * 100).toFixed(1)}% within SLO, ${step.request_goodput!.toFixed(2)} req/s`,
    );
  }
  const errors = Object.entries(step.errors_by_kind);
  if (errors.length > 0) lines.push(`  errors       ${errors.map(([kind, n]) => `${kind} ${n}`).join(', ')}`);
  return lines.join('\n');
}

export async function run(args: string[]): Promise<number> {
  let values: BenchFlagValues & { out?: string; report?: string; json?: boolean; help?: boolean };
  try {
    ({ values } = parseFlags(args, flags));
  } catch (error) {
    const { text, code } = commandError('bench', error, HELP);
    process.stderr.write(text);
    return code;
  }
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  // Ctrl-C (or SIGTERM): stop starting requests, let those in flight finish, write what was measured.
  const interrupt = new AbortController();
  const onSignal = () => {
    if (interrupt.signal.aborted) process.exit(130);
    process.stderr.write(
      '\nedgefleet bench: interrupted; finishing requests in flight (again to quit now)\n',
    );
    interrupt.abort();
  };
  try {
    const options = parseBenchOptions(values, process.env);
    // Checked before the run, which may take hours: a results file that cannot be written loses it all.
    for (const flag of ['out', 'report'] as const) {
      const path = values[flag];
      if (path !== undefined) await checkWritable(path, flag);
    }
    const dataset =
      options.datasetPath === null
        ? null
        : {
            name: options.datasetPath,
            entries: parseDataset(await readFlagFile(options.datasetPath, 'dataset'), options.datasetPath),
          };
    const tty = process.stderr.isTTY;
    let lastLineMs = 0;
    const version = (createRequire(import.meta.url)('../../package.json') as { version: string }).version;
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    const results = await runBench({
      ...options,
      signal: interrupt.signal,
      dataset,
      version,
      onProgress: (label, progress) => {
        const line = formatProgressLine(label, progress, options.requests);
        if (tty) process.stderr.write(`\r\x1b[K${line.slice(0, (process.stderr.columns || 80) - 1)}`);
        else if (performance.now() - lastLineMs >= 2_000) {
          lastLineMs = performance.now();
          process.stderr.write(`${line}\n`);
        }
      },
      onStepDone: (step) => {
        if (tty) process.stderr.write('\r\x1b[K');
        if (!values.json) process.stdout.write(`${formatStep(step)}\n`);
      },
    });
    if (results.max_rate && !values.json) {
      const rate = results.max_rate.request_rate;
      process.stdout.write(
        rate === null
          ? `max rate: no rate tried met the SLO (${results.max_rate.min_goodput_share * 100}% of requests)\n`
          : `max rate: ${rate} req/s meets the SLO for ≥ ${results.max_rate.min_goodput_share * 100}% of requests\n`,
      );
    }
    const json = `${JSON.stringify(results, null, 2)}\n`;
    if (values.out !== undefined) await writeFile(values.out, json);
    if (values.report !== undefined) await writeFile(values.report, renderReport(results));
    if (values.json) process.stdout.write(json);
    const failed = results.steps.every((step) => step.completed === 0);
    if (failed) process.stderr.write('edgefleet bench: no request succeeded\n');
    return interrupt.signal.aborted ? 130 : failed ? 1 : 0;
  } catch (error) {
    if (interrupt.signal.aborted) {
      process.stderr.write('edgefleet bench: interrupted before any request was measured\n');
      return 130;
    }
    const { text, code } = commandError('bench', error, HELP);
    process.stderr.write(text);
    return code;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

/** A usage error naming the flag when `path` cannot be written (it or its directory missing or read-only). */
async function checkWritable(path: string, flag: string): Promise<void> {
  const exists = await access(path).then(
    () => true,
    () => false,
  );
  await access(exists ? path : dirname(resolve(path)), constants.W_OK).catch(
    (error: NodeJS.ErrnoException) => {
      throw new EdgeFleetError(
        'invalid_argument',
        `--${flag} ${path}: cannot write there (${error.code ?? error.message})`,
      );
    },
  );
}
