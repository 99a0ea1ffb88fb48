import { EdgeFleetError } from '../spec/edgefleet-error.js';
import { estimate, type Estimate } from '../planner/estimate.js';
import { inputFromIds } from '../planner/estimate-input.js';
import { webSearchQueryPriceUsd } from '../planner/cost-energy.js';
import { latestCalibration, speedCalibrationOf } from '../planner/calibration/measured-efficiency.js';
import { resolveHome } from '../worker/models/model-cache.js';
import { readCalibrationFile } from './calibration-file.js';
import { intFlag, parseFlags } from './parse-flags.js';
import { commandError, formatBytes, formatNumber, formatPairs, formatUsd } from './planner-format.js';
import { quantFor, readHardwareChoice, readModelChoice } from './planner-inputs.js';

const HELP = `usage: edgefleet estimate (--model ID | --model-config FILE | --model-file FILE) --quant Q --engine E
                          (--hardware ID | --hardware-spec FILE) [--count N] [--batch B] [--context C]
                          [--prompt P] [--output G] [--flash-attention] [--host ID --host-count N]
                          [--home DIR] [--uncalibrated] [--json]

Estimates memory per device, whether it fits, decode and prefill speed, time to first token, concurrency,
energy and cost for one model on one engine and device type. See docs/planner.md.

  --model ID            a catalog model (deepseek-r1, deepseek-r1-distill-qwen-14b, llama-3.1-8b, ...)
  --model-config FILE   a Hugging Face config.json
  --model-file FILE     a GGUF file (only its header is read); --quant defaults to the file's type
  --quant Q             bf16 f16 fp8 w8a8 awq-int4 gptq-int4 q8_0 q6_k q5_k_m q4_k_m q4_0 iq1_s mlx-4bit
  --engine E            llama.cpp ollama vllm sglang trtllm mindie vllm-ascend ktransformers mlx
  --hardware ID         a catalog device (rtx-4090, h200, ascend-910b, apple-m3-ultra, ...)
  --hardware-spec FILE  JSON {name, kind, memoryBytes, memoryBandwidthBytesPerSecond, fp16Flops, int8Ops,
                        fp8Flops?, powerWatts?, pricePerHourUsd?, interconnectBytesPerSecond?}
  --count N             devices in the instance (default 1)
  --batch B             concurrent streams (default 1)
  --context C           context per stream in tokens (default max(4096, prompt + output))
  --prompt P            prompt tokens per answer (default 500)
  --output G            output tokens per answer (default 1000)
  --flash-attention     llama.cpp with flash attention (smaller compute buffer)
  --host ID             CPU that holds offloaded MoE experts (ktransformers, llama.cpp -ot)
  --host-count N        sockets of that CPU (default 1)
  --home DIR            where \`edgefleet calibrate\` stored measurements (default: $EDGEFLEET_HOME, else
                        ~/.edgefleet); the latest one for this hardware and engine scales decode speed
  --uncalibrated        ignore stored measurements (the planner's roofline alone)
  --json                print one JSON object
`;

const flags = {
  model: { type: 'string' },
  'model-config': { type: 'string' },
  'model-file': { type: 'string' },
  quant: { type: 'string' },
  engine: { type: 'string' },
  hardware: { type: 'string' },
  'hardware-spec': { type: 'string' },
  count: { type: 'string' },
  batch: { type: 'string' },
  context: { type: 'string' },
  prompt: { type: 'string' },
  output: { type: 'string' },
  'flash-attention': { type: 'boolean' },
  host: { type: 'string' },
  'host-count': { type: 'string' },
  home: { type: 'string' },
  uncalibrated: { type: 'boolean' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** The readable form of an estimate. */
export function formatEstimate(result: Estimate): string {
  const m = result.memory;
  const pairs: [string, string][] = [
    [
      'configuration',
      `${result.model} ${result.quant} on ${result.count}× ${result.hardware} with ${result.engine}`,
    ],
    ['fits', result.fits ? 'yes' : 'NO'],
    ['weights', formatBytes(m.weightsBytes)],
    ['KV cache', `${formatBytes(m.kvCacheBytes)} (batch ${result.batch} × ${result.contextTokens} tokens)`],
    ['compute buffers', formatBytes(m.computeBytes)],
    ['runtime overhead', formatBytes(m.overheadBytes)],
    ['per device', `${formatBytes(m.perDeviceBytes)} of ${formatBytes(m.usablePerDeviceBytes)} usable`],
    ['host memory', formatBytes(m.hostBytes)],
    [
      'decode',
      `${formatNumber(result.decode.tokensPerSecondPerStream)} tok/s per stream, ${formatNumber(result.decode.tokensPerSecond)} tok/s total`,
    ],
    ['prefill', `${formatNumber(result.prefill.tokensPerSecond)} tok/s`],
    [
      'time to first token',
      `${formatNumber(result.timeToFirstTokenMs)} ms (${result.promptTokens}-token prompt)`,
    ],
    ['time per output token', `${formatNumber(result.timePerOutputTokenMs)} ms`],
    ['max concurrency', String(result.maxConcurrency)],
    ['energy', `${formatNumber(result.energyJoulesPerToken)} J per output token`],
    ['cost', `${formatUsd(result.costPerMillionOutputTokensUsd)} per million output tokens`],
    [
      'one answer',
      `${result.promptTokens} + ${result.outputTokens} tokens: ${formatUsd(result.costPerAnswerUsd)}, ${formatNumber(result.energyJoulesPerAnswer)} J` +
        (result.answerCostInWebSearches === null
          ? ''
          : ` (= ${formatNumber(result.answerCostInWebSearches)} web-search API queries at ${formatUsd(webSearchQueryPriceUsd)})`),
    ],
  ];
  const reasons = result.reasons.map((reason) => `  - ${reason}`).join('\n');
  const c = result.calibrated;
  const calibrated = c
    ? `speed calibrated from a measurement on ${c.from.hardware} with ${c.from.engine} (${c.from.model} ${c.from.quant}: ${formatNumber(c.from.measuredTokensPerSecond)} tok/s measured, ${formatNumber(c.from.estimatedTokensPerSecond)} estimated, efficiency ${c.efficiency.toFixed(3)}; ${c.source}, ${new Date(c.from.atMs).toISOString().slice(0, 10)})\n`
    : '';
  return `${formatPairs(pairs)}\n${calibrated}${result.fits ? 'notes' : 'why not'}:\n${reasons}\n`;
}

/** `edgefleet estimate ...`: one configuration's memory, fit, speed and cost. */
export async function run(args: string[]): Promise<number> {
  try {
    const { values } = parseFlags(args, flags);
    if (values.help) {
      process.stdout.write(HELP);
      return 0;
    }
    const choice = await readModelChoice(values);
    const quant = quantFor(values.quant, choice, 'the quantization to estimate');
    if (values.engine === undefined) {
      throw new EdgeFleetError('invalid_argument', '--engine is required', { param: 'engine' });
    }
    const promptTokens = intFlag(values.prompt, 'prompt', 500, 0);
    const outputTokens = intFlag(values.output, 'output', 1000);
    const input = inputFromIds({
      model: choice.model,
      quant,
      engine: values.engine,
      hardware: await readHardwareChoice(values),
      count: intFlag(values.count, 'count', 1),
      batch: intFlag(values.batch, 'batch', 1),
      contextTokens: intFlag(values.context, 'context', Math.max(4096, promptTokens + outputTokens)),
      promptTokens,
      outputTokens,
      ...(choice.weightsBytes !== undefined ? { weightsBytes: choice.weightsBytes } : {}),
      ...(values['flash-attention'] ? { flashAttention: true } : {}),
      ...(values.host
        ? { host: { hardware: values.host, count: intFlag(values['host-count'], 'host-count', 1) } }
        : {}),
    });
    if (!values.uncalibrated) {
      const stored = await readCalibrationFile(resolveHome(values.home));
      const entry = latestCalibration(stored?.entries ?? [], input.hardware.id, input.engine.id);
      if (entry) input.calibration = speedCalibrationOf(entry);
    }
    const result = estimate(input);
    process.stdout.write(values.json ? `${JSON.stringify(result, null, 2)}\n` : formatEstimate(result));
    return 0;
  } catch (error) {
    const { text, code } = commandError('estimate', error, HELP);
    process.stderr.write(text);
    return code;
  }
}
