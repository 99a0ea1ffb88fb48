/**
 * `edgefleet calibrate --from results.json --hardware ID --engine E [--model M --quant Q] [--home DIR]`:
 * compares the single-stream decode speed a bench run measured with the planner's estimate for the same
 * configuration, and stores the ratio in `<home>/calibration.json`; `edgefleet estimate` then applies it.
 */
import { findModel } from '../catalog/models/model-catalog.js';
import { singleStreamSpeed } from '../bench/report/single-stream-speed.js';
import { measuredEfficiency, type CalibrationEntry } from '../planner/calibration/measured-efficiency.js';
import { estimate, incompatibilities } from '../planner/estimate.js';
import { inputFromIds } from '../planner/estimate-input.js';
import { benchResultSchema } from '../spec/bench-result.js';
import { EdgeFleetError } from '../spec/edgefleet-error.js';
import { resolveHome } from '../worker/models/model-cache.js';
import { appendCalibration } from './calibration-file.js';
import { intFlag, parseFlags } from './parse-flags.js';
import { commandError, formatNumber } from './planner-format.js';
import { quantFor, readJsonFile, readModelChoice, type ModelChoice } from './planner-inputs.js';

const HELP = `usage: edgefleet calibrate --from RESULTS.json --hardware ID --engine E
                           [--model ID | --model-config FILE | --model-file FILE] [--quant Q] [--count N]
                           [--home DIR] [--json]

Compares the single-stream decode speed an \`edgefleet bench\` run measured (1000 / median TPOT of its
concurrency-1 step) with the planner's estimate for the same model, quantization, engine and device, and
stores the ratio in <home>/calibration.json. Later \`edgefleet estimate\` runs for that hardware and engine
multiply their decode speed by it and say so. The latest calibration per hardware and engine wins.
See docs/bench.md.

  --from FILE           results of \`edgefleet bench --out FILE\` (must include --concurrency 1)
  --hardware ID         the catalog device the run measured (rtx-4090, h200, xeon-gold-6454s, ...)
  --engine E            the engine that served it (llama.cpp, vllm, sglang, ...)
  --model ID            the catalog model that was served (default: the results' model id, if in the catalog)
  --model-config FILE   or its Hugging Face config.json
  --model-file FILE     or the GGUF file that was served (--quant defaults to its type)
  --quant Q             its quantization (required unless --model-file gives it)
  --count N             devices in the measured instance (default 1)
  --home DIR            where calibration.json lives (default: $EDGEFLEET_HOME, else ~/.edgefleet)
  --json                print the stored entry as JSON
`;

const flags = {
  from: { type: 'string' },
  hardware: { type: 'string' },
  engine: { type: 'string' },
  model: { type: 'string' },
  'model-config': { type: 'string' },
  'model-file': { type: 'string' },
  quant: { type: 'string' },
  count: { type: 'string' },
  home: { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** The model named by a flag, else the results' model id when the catalog has it. */
async function chooseModel(
  values: { model?: string; 'model-config'?: string; 'model-file'?: string },
  resultsModel: string,
): Promise<ModelChoice> {
  if (
    values.model !== undefined ||
    values['model-config'] !== undefined ||
    values['model-file'] !== undefined
  ) {
    return readModelChoice(values);
  }
  try {
    return { model: findModel(resultsModel).id };
  } catch {
    throw new EdgeFleetError(
      'invalid_argument',
      `the results' model "${resultsModel}" is not a catalog model; say what was served: --model ID (a catalog model, see docs/planner.md), --model-config FILE (its config.json) or --model-file FILE (the GGUF file), and --quant Q`,
      { param: 'model' },
    );
  }
}

/** A measurement this many times the estimate is refused (see `run`). */
const maxEfficiency = 3;

/** `edgefleet calibrate ...`: stores measured ÷ estimated decode speed for a hardware and engine. */
export async function run(args: string[]): Promise<number> {
  try {
    const { values } = parseFlags(args, flags);
    if (values.help) {
      process.stdout.write(HELP);
      return 0;
    }
    if (values.from === undefined || values.hardware === undefined || values.engine === undefined) {
      throw new EdgeFleetError('invalid_argument', '--from, --hardware and --engine are required');
    }
    const parsed = benchResultSchema.safeParse(await readJsonFile(values.from, 'from'));
    if (!parsed.success) {
      const problems = parsed.error.issues
        .slice(0, 5)
        .map((issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`);
      throw new EdgeFleetError(
        'invalid_argument',
        `--from ${values.from} is not an edgefleet bench results file: ${problems.join('; ')}`,
        { param: 'from' },
      );
    }
    const results = parsed.data;
    const measured = singleStreamSpeed(results);
    const choice = await chooseModel(values, results.model_id);
    const quant = quantFor(values.quant, choice, 'the quantization that was served');
    const input = inputFromIds({
      model: choice.model,
      quant,
      engine: values.engine,
      hardware: values.hardware,
      count: intFlag(values.count, 'count', 1),
      batch: 1,
      promptTokens: measured.promptTokens,
      outputTokens: measured.outputTokens,
      ...(choice.weightsBytes !== undefined ? { weightsBytes: choice.weightsBytes } : {}),
    });
    const problems = incompatibilities(input);
    if (problems.length > 0) {
      throw new EdgeFleetError(
        'invalid_argument',
        `cannot estimate this configuration: ${problems.join('; ')}`,
      );
    }
    const estimatedTokensPerSecond = estimate(input).decode.tokensPerSecondPerStream;
    const efficiency = measuredEfficiency(measured.tokensPerSecond, estimatedTokensPerSecond);
    // The estimate already sits below the hardware's limit; 3× above it is past what the hardware can do,
    // so the results were most likely measured on another model or quantization than the one named.
    if (efficiency > maxEfficiency) {
      throw new EdgeFleetError(
        'invalid_argument',
        `measured ${formatNumber(measured.tokensPerSecond)} tok/s per stream is ${efficiency.toFixed(1)}× the planner's ` +
          `${formatNumber(estimatedTokensPerSecond)} tok/s for ${input.model.id} ${input.quant.id} on ${input.count}× ` +
          `${input.hardware.id} with ${input.engine.id}; more than ${maxEfficiency}× is not stored: check that the ` +
          `model and --quant name what was benchmarked`,
      );
    }
    const entry: CalibrationEntry = {
      hardware: input.hardware.id,
      engine: input.engine.id,
      model: input.model.id,
      quant: input.quant.id,
      count: input.count,
      promptTokens: input.promptTokens,
      outputTokens: input.outputTokens,
      measuredTokensPerSecond: measured.tokensPerSecond,
      estimatedTokensPerSecond,
      efficiency,
      source: values.from,
      atMs: Date.now(),
    };
    const path = await appendCalibration(resolveHome(values.home), entry);
    process.stdout.write(
      values.json
        ? `${JSON.stringify({ ...entry, path }, null, 2)}\n`
        : `measured ${formatNumber(entry.measuredTokensPerSecond)} tok/s per stream (1000 / median TPOT ${formatNumber(measured.medianTpotMs)} ms, step "${measured.label}")\n` +
            `planner estimated ${formatNumber(estimatedTokensPerSecond)} tok/s for ${entry.model} ${entry.quant} on ${entry.count}× ${entry.hardware} with ${entry.engine} (${entry.promptTokens}-token prompt, ${entry.outputTokens}-token output)\n` +
            `efficiency ${entry.efficiency.toFixed(3)} stored in ${path}; \`edgefleet estimate\` on ${entry.hardware} with ${entry.engine} now uses it\n`,
    );
    return 0;
  } catch (error) {
    const { text, code } = commandError('calibrate', error, HELP);
    process.stderr.write(text);
    return code;
  }
}
