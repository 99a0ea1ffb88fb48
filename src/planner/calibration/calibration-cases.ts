/**
 * Maps rows of data/calibration/published-measurements.csv (free text: "NVIDIA H200 141GB SXM",
 * "GGUF Q4_K_M", "llama.cpp b7315 (Metal)") to planner inputs, or says why a row is not scored.
 */

/** A measurement the speed model is scored on. */
export interface CalibrationCase {
  /** Row number in the CSV (1 = first data row). */
  row: number;
  label: string;
  source: string;
  kind: 'decode' | 'prefill';
  /** True for the rows the target counts: single-stream decode. */
  singleStream: boolean;
  modelId: string;
  quantId: string;
  engineId: string;
  hardwareId: string;
  count: number;
  batch: number;
  /** Tokens in the cache while decoding (decode), or the prompt length (prefill). */
  contextTokens: number;
  host?: { hardwareId: string; count: number };
  /** Measured tokens/s per stream (decode; from TPOT for batched rows) or prefill tokens/s. */
  measured: number;
  note: string;
}

export interface ExcludedRow {
  row: number;
  label: string;
  metric: string;
  reason: string;
}

const models: [RegExp, string][] = [
  [/Distill-Qwen-14B/i, 'deepseek-r1-distill-qwen-14b'],
  [/Distill-Qwen-7B/i, 'deepseek-r1-distill-qwen-7b'],
  [/^DeepSeek-R1/i, 'deepseek-r1'],
  [/^DeepSeek-V3/i, 'deepseek-v3'],
  [/^Llama-3-8B|^Llama-3\.1-8B/i, 'llama-3.1-8b'],
  [/^Llama-3\.3-70B/i, 'llama-3.3-70b'],
  [/^Llama-2-7B|^LLaMA-7B/i, 'llama-2-7b'],
  [/^Qwen3-8B/i, 'qwen3-8b'],
  [/^Qwen2\.5-72B/i, 'qwen2.5-72b'],
  [/^Qwen2\.5-7B/i, 'qwen2.5-7b'],
  [/^Mistral-7B/i, 'mistral-7b'],
];
const quants: [RegExp, string][] = [
  [/Q4_K_M/i, 'q4_k_m'],
  [/IQ1_S/i, 'iq1_s'],
  [/Q8_0/i, 'q8_0'],
  [/Q4_0/i, 'q4_0'],
  [/^BF16/i, 'bf16'],
  [/^F16/i, 'f16'],
  [/^FP8/i, 'fp8'],
  [/W8A8/i, 'w8a8'],
  [/AWQ/i, 'awq-int4'],
  [/MLX 4-bit/i, 'mlx-4bit'],
];
const engines: [RegExp, string][] = [
  [/KTransformers/i, 'ktransformers'],
  [/llama\.cpp/i, 'llama.cpp'],
  [/Ollama/i, 'ollama'],
  [/SGLang/i, 'sglang'],
  [/vLLM-Ascend/i, 'vllm-ascend'],
  [/vLLM/i, 'vllm'],
  [/TensorRT-LLM/i, 'trtllm'],
  [/MindIE/i, 'mindie'],
  [/mlx-lm/i, 'mlx'],
];
const hardware: [RegExp, string][] = [
  [/RTX 4090/i, 'rtx-4090'],
  [/RTX 3090/i, 'rtx-3090'],
  [/M2 Ultra/i, 'apple-m2-ultra'],
  [/M3 Ultra/i, 'apple-m3-ultra'],
  [/A100 80GB/i, 'a100-80gb'],
  [/H100 PCIe/i, 'h100-pcie'],
  [/H100/i, 'h100-sxm'],
  [/H200/i, 'h200'],
  [/H800/i, 'h800'],
  [/H20 /i, 'h20'],
  [/MI300X/i, 'mi300x'],
  [/910B/i, 'ascend-910b'],
  [/8 GPUs/i, 'h200'],
];

const pick = (table: [RegExp, string][], text: string): string | undefined =>
  table.find(([pattern]) => pattern.test(text))?.[1];

/** Tokens from a CSV length cell: a number, "ShareGPT" (~230 prompt / ~200 output tokens), or unknown. */
function tokens(cell: string, fallback: number): number {
  const value = Number(cell);
  if (Number.isFinite(value) && value > 0) return value;
  if (/ShareGPT/i.test(cell)) return 230;
  return fallback;
}

/** Concurrency from "batch 1", "concurrency 8", "max concurrency 4", "single request", "1 slot". */
function concurrency(cell: string): number | undefined {
  if (/single request|^batch 1\b|1 slot/i.test(cell)) return 1;
  const match = /(?:concurrency|batch)\s+(\d+)(?!\.)/i.exec(cell);
  return match ? Number(match[1]) : undefined;
}

/** Maps one CSV record to a scored case, or to the reason it is not scored. */
export function calibrationCase(record: Record<string, string>, row: number): CalibrationCase | ExcludedRow {
  const metric = record['metric'] ?? '';
  const label = `${record['model']} ${record['quant']} ${record['engine']} on ${record['hw_count']}× ${record['hardware']}`;
  const exclude = (reason: string): ExcludedRow => ({ row, label, metric, reason });
  if (/ESTIMATE/i.test(record['source'] ?? ''))
    return exclude('an estimate by another tool, not a measurement');
  const kind =
    metric === 'prefill_tok_s'
      ? 'prefill'
      : /decode_tok_s_single_stream|mean_tpot/.test(metric)
        ? 'decode'
        : undefined;
  if (metric === 'decode_tok_s_per_user') return exclude('speculative decoding (MTP): not plain decode');
  if (kind === undefined)
    return exclude('throughput or memory under load: needs a scheduler/queueing model, not scored');
  const modelId = pick(models, record['model'] ?? '');
  const quantId = pick(quants, record['quant'] ?? '');
  const engineId = pick(engines, record['engine'] ?? '');
  const hardwareId = pick(hardware, record['hardware'] ?? '');
  const batch = concurrency(record['batch_or_concurrency'] ?? '');
  if (!modelId || !quantId || !engineId || !hardwareId || batch === undefined) {
    return exclude('model, quantization, engine, hardware or concurrency not in the catalogs');
  }
  const sockets = /(\d) sockets/.exec(record['hardware'] ?? '');
  const host = /Xeon Gold 6454S/i.test(record['hardware'] ?? '')
    ? { hardwareId: 'xeon-gold-6454s', count: sockets ? Number(sockets[1]) : 1 }
    : undefined;
  const value = Number(record['value']);
  const prompt = tokens(record['prompt_len'] ?? '', 0);
  const output = tokens(record['gen_len'] ?? '', 256);
  const notes: string[] = [];
  if (/Llama-3-8B/i.test(record['model'] ?? ''))
    notes.push('Llama-3-8B scored as llama-3.1-8b (same architecture)');
  if (/8 GPUs/i.test(record['hardware'] ?? '')) notes.push('hardware assumed H200 (flagged in the CSV)');
  return {
    row,
    label,
    source: record['source'] ?? '',
    kind,
    singleStream: metric === 'decode_tok_s_single_stream',
    modelId,
    quantId,
    engineId,
    hardwareId,
    count: Number(record['hw_count']) || 1,
    batch,
    contextTokens: kind === 'prefill' ? Math.max(1, prompt) : Math.max(1, prompt + output / 2),
    ...(host ? { host } : {}),
    measured: metric === 'mean_tpot' ? 1000 / value : value,
    note: notes.join('; '),
  };
}

/** Every CSV record mapped: the scored cases and the excluded rows with reasons. */
export function calibrationCases(records: Record<string, string>[]): {
  cases: CalibrationCase[];
  excluded: ExcludedRow[];
} {
  const cases: CalibrationCase[] = [];
  const excluded: ExcludedRow[] = [];
  records.forEach((record, index) => {
    const mapped = calibrationCase(record, index + 1);
    if ('reason' in mapped) excluded.push(mapped);
    else cases.push(mapped);
  });
  return { cases, excluded };
}

/** Parses RFC 4180 CSV text (quoted fields, doubled quotes, commas and newlines inside quotes). */
export function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const char = text[i]!;
    if (quoted) {
      if (char === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (char === '"') {
        quoted = false;
      } else {
        field += char;
      }
    } else if (char === '"') {
      quoted = true;
    } else if (char === ',') {
      row.push(field);
      field = '';
    } else if (char === '\n' || char === '\r') {
      if (char === '\r' && text[i + 1] === '\n') i++;
      row.push(field);
      if (row.some((cell) => cell !== '')) rows.push(row);
      row = [];
      field = '';
    } else {
      field += char;
    }
  }
  row.push(field);
  if (row.some((cell) => cell !== '')) rows.push(row);
  return rows;
}

/** CSV rows as records keyed by the header row. */
export function parseCsvRecords(text: string): Record<string, string>[] {
  const [header, ...rows] = parseCsv(text);
  if (!header) return [];
  return rows.map((row) => Object.fromEntries(header.map((name, column) => [name, row[column] ?? ''])));
}
