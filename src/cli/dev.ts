import { resolve } from 'node:path';
import { ggufArchitecture } from '../catalog/gguf/gguf-architecture.js';
import { makeModel } from '../catalog/gguf/make-model.js';
import type { MakeModelOptions, ModelVocabName, ModelWeightType } from '../catalog/gguf/model-shape.js';
import { readGgufHeader } from '../catalog/gguf/read-gguf-header.js';
import { EdgeFleetError } from '../spec/edgefleet-error.js';
import { intFlag, parseFlags } from './parse-flags.js';

const HELP = `usage: edgefleet dev <tool> [options]

tools:
  make-model   write a generated llama-architecture GGUF model with a known greedy answer
  gguf-info    print a GGUF file's architecture, tensor types and sizes (reads the header only)

edgefleet dev make-model --out FILE [options]
  --out FILE            where to write the model (required)
  --layers N            transformer blocks (default 2)
  --hidden N            embedding width (default 64; 32 with a real vocab)
  --heads N             attention heads (default 4)
  --kv-heads N          key/value heads, must divide --heads (default = --heads)
  --ffn N               feed-forward width (default 4 × hidden)
  --vocab NAME          toy | qwen2 | deepseek (default toy; real vocabs come from llama.cpp's test files)
  --vocab-size N        pad the toy vocab to N tokens
  --type T              f32 | f16 | q8_0 (default f32)
  --think               answer with <think>…</think> first and embed DeepSeek-R1's chat template
  --context-length N    llama.context_length (default 4096)
  --json                print the result (expected text included) as JSON instead of one line

edgefleet dev gguf-info FILE [--json]
`;

const vocabs: readonly string[] = ['toy', 'qwen2', 'deepseek'];
const types: readonly string[] = ['f32', 'f16', 'q8_0'];

function choice<T extends string>(
  value: string | undefined,
  name: string,
  allowed: readonly string[],
): T | undefined {
  if (value === undefined) return undefined;
  if (!allowed.includes(value)) {
    throw new EdgeFleetError(
      'invalid_argument',
      `--${name} must be one of ${allowed.join(', ')}, got "${value}"`,
    );
  }
  return value as T;
}

function optionalInt(value: string | undefined, name: string): number | undefined {
  return value === undefined ? undefined : intFlag(value, name, 0);
}

async function makeModelCommand(args: string[]): Promise<number> {
  const { values } = parseFlags(args, {
    out: { type: 'string' },
    layers: { type: 'string' },
    hidden: { type: 'string' },
    heads: { type: 'string' },
    'kv-heads': { type: 'string' },
    ffn: { type: 'string' },
    vocab: { type: 'string' },
    'vocab-size': { type: 'string' },
    type: { type: 'string' },
    think: { type: 'boolean' },
    'context-length': { type: 'string' },
    json: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  if (values.out === undefined) throw new EdgeFleetError('invalid_argument', '--out FILE is required');
  const options: MakeModelOptions = {
    layers: optionalInt(values.layers, 'layers'),
    hidden: optionalInt(values.hidden, 'hidden'),
    heads: optionalInt(values.heads, 'heads'),
    kvHeads: optionalInt(values['kv-heads'], 'kv-heads'),
    ffn: optionalInt(values.ffn, 'ffn'),
    vocab: choice<ModelVocabName>(values.vocab, 'vocab', vocabs),
    vocabSize: optionalInt(values['vocab-size'], 'vocab-size'),
    type: choice<ModelWeightType>(values.type, 'type', types),
    think: values.think,
    contextLength: optionalInt(values['context-length'], 'context-length'),
  };
  const started = performance.now();
  const model = await makeModel(resolve(values.out), options);
  const seconds = (performance.now() - started) / 1000;
  if (values.json) {
    process.stdout.write(`${JSON.stringify(model, null, 2)}\n`);
    return 0;
  }
  const { shape } = model;
  process.stdout.write(
    `wrote ${model.path}: ${(model.parameters / 1e6).toFixed(2)}M params, ${model.bytes} bytes ` +
      `(${shape.layers} layers, hidden ${shape.hidden}, ${shape.heads}/${shape.kvHeads} heads, ffn ${shape.ffn}, ` +
      `${shape.vocab} vocab ${model.vocabSize}, ${shape.type}${shape.think ? ', think' : ''}) in ${seconds.toFixed(1)} s\n`,
  );
  return 0;
}

async function ggufInfoCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseFlags(
    args,
    { json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
    true,
  );
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  const [file] = positionals;
  if (file === undefined || positionals.length > 1)
    throw new EdgeFleetError('invalid_argument', 'give one FILE');
  const header = await readGgufHeader(file);
  const info = ggufArchitecture(header);
  if (values.json) {
    const { chatTemplate, ...rest } = info;
    process.stdout.write(
      `${JSON.stringify({ ...rest, hasChatTemplate: chatTemplate !== undefined }, null, 2)}\n`,
    );
    return 0;
  }
  const kv = info.headCountKv === info.headCount ? '' : `/${info.headCountKv}`;
  process.stdout.write(
    `${file}: GGUF v${header.version} ${info.architecture}${info.name ? ` "${info.name}"` : ''}, ` +
      `${(info.parameterCount / 1e6).toFixed(2)}M params, ${info.tensorBytes} bytes of tensors, ` +
      `${info.blockCount} layers, hidden ${info.embeddingLength}, ${info.headCount}${kv} heads, ` +
      `ctx ${info.contextLength}, vocab ${info.vocabSize ?? '?'}, ${info.fileTypeName ?? 'file type ?'}, ` +
      `tensors ${JSON.stringify(info.tensorTypes)}${info.chatTemplate ? ', chat template' : ''}\n`,
  );
  return 0;
}

/** `edgefleet dev make-model|gguf-info …`: developer tools. */
export async function run(args: string[]): Promise<number> {
  const [tool, ...rest] = args;
  try {
    if (tool === 'make-model') return await makeModelCommand(rest);
    if (tool === 'gguf-info') return await ggufInfoCommand(rest);
    if (tool === undefined) {
      process.stderr.write(`edgefleet dev: which tool?\n\n${HELP}`);
      return 2;
    }
    if (tool === '--help' || tool === '-h' || tool === 'help') {
      process.stdout.write(HELP);
      return 0;
    }
    process.stderr.write(`edgefleet dev: unknown tool "${tool}"\n\n${HELP}`);
    return 2;
  } catch (error) {
    if (
      error instanceof EdgeFleetError &&
      (error.code === 'invalid_argument' || error.code === 'invalid_model_file')
    ) {
      process.stderr.write(`edgefleet dev ${tool}: ${error.message}\n`);
      return 2;
    }
    throw error;
  }
}
