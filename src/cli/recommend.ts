import { findHardware } from '../catalog/hardware/hardware-catalog.js';
import type { HardwareSpec } from '../catalog/hardware/hardware-spec.js';
import {
  latestCalibration,
  speedCalibrationOf,
  type SpeedCalibration,
} from '../planner/calibration/measured-efficiency.js';
import { recommend, type Recommendation } from '../planner/recommend.js';
import { resolveHome } from '../worker/models/model-cache.js';
import { readCalibrationFile } from './calibration-file.js';
import { intFlag, parseFlags } from './parse-flags.js';
import { commandError, formatBytes, formatNumber, formatTable, formatUsd } from './planner-format.js';
import { readHardwareChoice } from './planner-inputs.js';

const HELP = `usage: edgefleet recommend (--hardware ID | --hardware-spec FILE) [--count N] [--users U]
                           [--slo-ttft-ms X] [--slo-tpot-ms Y] [--context C] [--prompt P] [--output G]
                           [--limit K] [--all] [--home DIR] [--uncalibrated] [--json]

Lists every model × quantization × engine × instance size that fits N devices, ranked: configurations that
meet the SLO (and serve U concurrent users) first, the largest model first, then higher precision, then
throughput. Each line says how fast it is, how many streams it serves and why. See docs/planner.md.

  --hardware ID        a catalog device (rtx-4090, h20, ascend-910b, ...)
  --hardware-spec FILE a device described in JSON (see edgefleet estimate --help)
  --count N            devices available (default 1)
  --users U            concurrent users to serve
  --slo-ttft-ms X      time-to-first-token limit
  --slo-tpot-ms Y      time-per-output-token limit (streams per instance are capped to meet it)
  --context C          context per stream (default max(4096, prompt + output))
  --prompt P           prompt tokens (default 500)
  --output G           output tokens (default 1000)
  --limit K            rows in the table (default 20; JSON has all unless --limit is given)
  --all                one row per model × quant × engine × size (default: best per model × quant × engine)
  --home DIR           where \`edgefleet calibrate\` stored measurements (default: $EDGEFLEET_HOME, else
                       ~/.edgefleet); engines measured on this hardware use them
  --uncalibrated       ignore stored measurements
  --json               print a JSON array
`;

const flags = {
  hardware: { type: 'string' },
  'hardware-spec': { type: 'string' },
  count: { type: 'string' },
  users: { type: 'string' },
  'slo-ttft-ms': { type: 'string' },
  'slo-tpot-ms': { type: 'string' },
  context: { type: 'string' },
  prompt: { type: 'string' },
  output: { type: 'string' },
  limit: { type: 'string' },
  all: { type: 'boolean' },
  home: { type: 'string' },
  uncalibrated: { type: 'boolean' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** Keeps the best-ranked instance size of each model × quant × engine. */
function bestPerCombination(rows: Recommendation[]): Recommendation[] {
  const seen = new Set<string>();
  return rows.filter((row) => {
    const key = `${row.model}|${row.quant}|${row.engine}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

export function formatRecommendations(rows: Recommendation[]): string {
  const table = [
    [
      '#',
      'MODEL',
      'QUANT',
      'ENGINE',
      'LAYOUT',
      'SLO',
      'STREAMS',
      'TOK/S/STREAM',
      'TOK/S',
      'TTFT MS',
      '$/M OUT',
      'WHY',
    ],
    ...rows.map((row, index) => [
      String(index + 1),
      row.model,
      row.quant,
      row.engine,
      `${row.replicas}×${row.devicesPerInstance}`,
      row.meetsSlo ? 'yes' : 'no',
      String(row.totalStreams),
      formatNumber(row.decodeTokensPerSecondPerStream),
      formatNumber(row.totalDecodeTokensPerSecond),
      formatNumber(row.timeToFirstTokenMs),
      formatUsd(row.costPerMillionOutputTokensUsd),
      `${row.why.join('; ')} (${formatBytes(row.perDeviceBytes)}/device)`,
    ]),
  ];
  return `${formatTable(table)}\n`;
}

/** `edgefleet recommend ...`: what to run on these devices. */
export async function run(args: string[]): Promise<number> {
  try {
    const { values } = parseFlags(args, flags);
    if (values.help) {
      process.stdout.write(HELP);
      return 0;
    }
    const choice = await readHardwareChoice(values);
    const hardware: HardwareSpec = typeof choice === 'string' ? findHardware(choice) : choice;
    const promptTokens = intFlag(values.prompt, 'prompt', 500, 0);
    const outputTokens = intFlag(values.output, 'output', 1000);
    const calibrations: Record<string, SpeedCalibration> = {};
    if (!values.uncalibrated) {
      const entries = (await readCalibrationFile(resolveHome(values.home)))?.entries ?? [];
      for (const engine of new Set(entries.map((e) => e.engine))) {
        const entry = latestCalibration(entries, hardware.id, engine);
        if (entry) calibrations[engine] = speedCalibrationOf(entry);
      }
    }
    const all = recommend({
      calibrations,
      hardware,
      count: intFlag(values.count, 'count', 1),
      ...(values.users !== undefined ? { users: intFlag(values.users, 'users', 1) } : {}),
      ...(values['slo-ttft-ms'] !== undefined
        ? { sloTtftMs: intFlag(values['slo-ttft-ms'], 'slo-ttft-ms', 1) }
        : {}),
      ...(values['slo-tpot-ms'] !== undefined
        ? { sloTpotMs: intFlag(values['slo-tpot-ms'], 'slo-tpot-ms', 1) }
        : {}),
      contextTokens: intFlag(values.context, 'context', Math.max(4096, promptTokens + outputTokens)),
      promptTokens,
      outputTokens,
    });
    const rows = values.all ? all : bestPerCombination(all);
    if (values.json) {
      const limited = values.limit === undefined ? rows : rows.slice(0, intFlag(values.limit, 'limit', 20));
      process.stdout.write(`${JSON.stringify(limited, null, 2)}\n`);
      return 0;
    }
    if (rows.length === 0) {
      process.stdout.write(`nothing in the catalog fits ${hardware.id}×${values.count ?? 1}\n`);
      return 0;
    }
    const limit = intFlag(values.limit, 'limit', 20);
    process.stdout.write(formatRecommendations(rows.slice(0, limit)));
    if (rows.length > limit) process.stdout.write(`… ${rows.length - limit} more (--limit, --json)\n`);
    return 0;
  } catch (error) {
    const { text, code } = commandError('recommend', error, HELP);
    process.stderr.write(text);
    return code;
  }
}
