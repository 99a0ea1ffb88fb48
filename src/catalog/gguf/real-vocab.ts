import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, open, rename, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { EdgeFleetError } from '../../spec/edgefleet-error.js';
import { r1ControlTokens, r1TextTokens, r1Tokens } from './chat-templates.js';
import type { GgufValue } from './gguf-types.js';
import { gpt2TokenSpelling, tokenTypes, type ModelVocab } from './model-vocab.js';
import { readGgufHeader } from './read-gguf-header.js';

export type RealVocabName = 'qwen2' | 'deepseek';

/** The vocab-only GGUF files llama.cpp keeps for its tokenizer tests, by our vocabulary name. */
const vocabFiles: Record<RealVocabName, string> = {
  qwen2: 'ggml-vocab-qwen2.gguf',
  deepseek: 'ggml-vocab-deepseek-llm.gguf',
};

export const defaultVocabCacheDir = (): string => join(tmpdir(), 'edgefleet-vocab');

/** node-llama-cpp ships llama.cpp's full source as a git bundle; the vocab files are in it. */
function llamaCppBundlePath(): string {
  let dir = dirname(createRequire(import.meta.url).resolve('node-llama-cpp'));
  for (let i = 0; i < 4; i++, dir = dirname(dir)) {
    const candidate = join(dir, 'llama', 'gitRelease.bundle');
    if (existsSync(candidate)) return candidate;
  }
  throw new EdgeFleetError(
    'not_found',
    'node-llama-cpp/llama/gitRelease.bundle not found (is node-llama-cpp installed?)',
  );
}

function git(args: string[], stdout: number | 'ignore' = 'ignore'): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('git', args, { stdio: ['ignore', stdout, 'pipe'] });
    let stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) =>
      code === 0 ? resolve() : reject(new Error(`git ${args[0] ?? ''} failed (${code}): ${stderr.trim()}`)),
    );
  });
}

/** Extracts every known vocab file from the bundle into the cache (once; later calls find them there). */
async function extractVocabFiles(cacheDir: string): Promise<void> {
  await mkdir(cacheDir, { recursive: true });
  const work = await mkdtemp(join(cacheDir, 'extract-'));
  try {
    const repo = join(work, 'llama.cpp.git');
    await git(['init', '--quiet', '--bare', repo]);
    await git(['-C', repo, 'fetch', '--quiet', llamaCppBundlePath(), 'HEAD']);
    for (const file of Object.values(vocabFiles)) {
      const partial = join(work, file);
      const handle = await open(partial, 'w');
      try {
        await git(['-C', repo, 'cat-file', 'blob', `FETCH_HEAD:models/${file}`], handle.fd);
      } finally {
        await handle.close();
      }
      await rename(partial, join(cacheDir, file));
    }
  } catch (error) {
    throw new EdgeFleetError('internal_error', `cannot extract vocab files from llama.cpp's source bundle`, {
      cause: error,
    });
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/**
 * Loads a real tokenizer (Qwen2's or DeepSeek-LLM's) from llama.cpp's vocab-only GGUF files and makes it
 * DeepSeek-R1-ready: the R1 control tokens (`<｜User｜>`, `<｜Assistant｜>`, BOS/EOS, tool tags) and the
 * user-defined `<think>`/`</think>` tokens take unused `[PAD…]` slots (or are appended), and BOS/EOS point at
 * R1's tokens, as in the real DeepSeek-R1-Distill-Qwen models. Everything else is copied unchanged.
 */
export async function loadRealVocab(
  name: RealVocabName,
  cacheDir = defaultVocabCacheDir(),
): Promise<ModelVocab> {
  const path = join(cacheDir, vocabFiles[name]);
  if (!existsSync(path)) await extractVocabFiles(cacheDir);
  const header = await readGgufHeader(path);

  const metadata = new Map<string, GgufValue>();
  for (const [key, value] of header.metadata) if (key.startsWith('tokenizer.ggml.')) metadata.set(key, value);
  const tokensValue = metadata.get('tokenizer.ggml.tokens');
  const typesValue = metadata.get('tokenizer.ggml.token_type');
  if (tokensValue?.type !== 'array' || tokensValue.itemType !== 'string') {
    throw new EdgeFleetError('invalid_model_file', `${path} has no tokenizer.ggml.tokens`);
  }
  if (typesValue?.type !== 'array' || typesValue.itemType !== 'i32') {
    throw new EdgeFleetError('invalid_model_file', `${path} has no tokenizer.ggml.token_type`);
  }
  const tokens = [...tokensValue.value];
  const types = [...typesValue.value];
  const ids = new Map(tokens.map((token, id) => [token, id]));
  let nextPad = 0;
  const ensure = (text: string, type: number): number => {
    let id = ids.get(text);
    if (id === undefined) {
      while (nextPad < tokens.length && !/^\[PAD\d+\]$/.test(tokens[nextPad] ?? '')) nextPad++;
      id = nextPad < tokens.length ? nextPad++ : tokens.length;
      const old = tokens[id];
      if (old !== undefined) ids.delete(old);
      tokens[id] = text;
      ids.set(text, id);
    }
    types[id] = type;
    return id;
  };
  for (const text of r1ControlTokens) ensure(text, tokenTypes.control);
  for (const text of r1TextTokens) ensure(text, tokenTypes.userDefined);
  const scores = metadata.get('tokenizer.ggml.scores');
  if (scores?.type === 'array' && scores.itemType === 'f32') {
    metadata.set('tokenizer.ggml.scores', { ...scores, value: tokens.map((_, i) => scores.value[i] ?? 0) });
  }
  const bosId = ids.get(r1Tokens.bos) ?? 0;
  const eosId = ids.get(r1Tokens.eos) ?? 0;
  metadata.set('tokenizer.ggml.tokens', { type: 'array', itemType: 'string', value: tokens });
  metadata.set('tokenizer.ggml.token_type', { type: 'array', itemType: 'i32', value: types });
  metadata.set('tokenizer.ggml.bos_token_id', { type: 'u32', value: bosId });
  metadata.set('tokenizer.ggml.eos_token_id', { type: 'u32', value: eosId });

  return {
    name,
    size: tokens.length,
    bosId,
    eosId,
    metadata,
    tokenId: (text) => {
      const raw = ids.get(text);
      if (raw !== undefined && (types[raw] === tokenTypes.control || types[raw] === tokenTypes.userDefined)) {
        return raw;
      }
      return ids.get(gpt2TokenSpelling(text));
    },
  };
}
