/**
 * Single-stream decode speed measured by `edgefleet bench` on the embedded engine (1 thread) agrees with
 * llama.cpp's own llama-bench (tg, 1 thread) for the same generated model within 10%. The model is made big
 * enough (~270 M parameters, F16: ~25 ms a token on one thread, so the ~1 ms per-token serving overhead
 * stays small) that decoding, not HTTP and SSE, dominates each token. llama-bench runs right before and
 * right after `edgefleet bench`, and the closer of the two is the reference: the suite shares the machine
 * with other tests, and a neighbour that starts or stops between two measurements must not decide the
 * comparison. Skips, saying why, when llama-bench has not been built (scripts/build-llama-cpp.sh).
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { parseBenchResult } from '../../src/spec/bench-result.js';
import { startEdgeFleet, type RunningEdgeFleet } from '../helpers/edgefleet-process.js';
import { makeTestModel } from '../helpers/models.js';
import { runCli } from './run-cli.js';

const llamaBench = fileURLToPath(new URL('../../.cache/llama.cpp/bin/llama-bench', import.meta.url));
const present = existsSync(llamaBench);
const OUTPUT_TOKENS = 128;

describe('edgefleet bench decode speed vs llama-bench', () => {
  let server: RunningEdgeFleet | undefined;
  afterAll(async () => {
    await server?.stop();
  });

  it.skipIf(!present)(
    `agrees within 10% at 1 thread${present ? '' : ' (skipped: .cache/llama.cpp/bin/llama-bench is absent; run scripts/build-llama-cpp.sh)'}`,
    async () => {
      const model = await makeTestModel({ hidden: 1024, layers: 16, heads: 16, ffn: 4096, type: 'f16' });
      const referenceRun = async () => {
        const { stdout } = await promisify(execFile)(
          llamaBench,
          ['-m', model.path, '-t', '1', '-p', '0', '-n', String(OUTPUT_TOKENS), '-r', '3', '-o', 'json'],
          { timeout: 240_000 },
        );
        return (JSON.parse(stdout) as { n_gen: number; avg_ts: number }[]).find((r) => r.n_gen > 0)!.avg_ts;
      };
      const before = await referenceRun();
      server = await startEdgeFleet([
        '--model',
        model.path,
        '--name',
        'm',
        '--parallel',
        '1',
        '--context',
        '1024',
        '--offline',
      ]);
      const out = join(await mkdtemp(join(tmpdir(), 'ef-bench-')), 'results.json');
      const run = await runCli(
        [
          'bench',
          '--url',
          server.baseUrl,
          '--model',
          'm',
          '--concurrency',
          '1',
          '--requests',
          '2',
          '--prompt-tokens',
          '16',
          '--output-tokens',
          String(OUTPUT_TOKENS),
          '--out',
          out,
        ],
        240_000,
      );
      expect(run.code).toBe(0);
      const step = parseBenchResult(JSON.parse(await readFile(out, 'utf8'))).steps[0]!;
      expect(step.output_lens).toEqual([OUTPUT_TOKENS, OUTPUT_TOKENS]);
      const benchTokensPerSecond = 1000 / step.mean_tpot_ms!;
      const after = await referenceRun();
      const deviation = (reference: number) => Math.abs(benchTokensPerSecond - reference) / reference;
      process.stderr.write(
        `decode tok/s at 1 thread: edgefleet bench ${benchTokensPerSecond.toFixed(1)}, llama-bench ${before.toFixed(1)} before and ${after.toFixed(1)} after\n`,
      );
      expect(Math.min(deviation(before), deviation(after))).toBeLessThanOrEqual(0.1);
    },
    600_000,
  );
});
