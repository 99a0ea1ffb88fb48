import { access, mkdir } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { ggufRefFor, modelIdsWithGguf } from '../catalog/gguf-sources.js';
import { ggufArchitecture } from '../catalog/gguf/gguf-architecture.js';
import { makeModel } from '../catalog/gguf/make-model.js';
import { readGgufHeader } from '../catalog/gguf/read-gguf-header.js';
import { EdgeFleetError } from '../spec/edgefleet-error.js';
import type { Logger } from '../telemetry/logger.js';
import {
  DEFAULT_MODEL_REF,
  findCached,
  modelsDir,
  pullModel,
  type PullProgress,
} from './models/model-cache.js';

export interface ResolvedModel {
  path: string;
  /** The id clients put in `model`. */
  modelId: string;
  /** What the user asked for, or the default ref. */
  source: string;
  /** True when EdgeFleet fell back to its generated demo model. */
  demo: boolean;
  note?: string;
  /** The context length the model was trained for (its GGUF header's `context_length`). */
  contextLength: number;
}

export interface ResolveModelOptions {
  home: string;
  /** A GGUF path, `hf:` ref, https URL or catalog id (optionally `id:QUANT`); undefined for the default. */
  model?: string;
  offline: boolean;
  log: Logger;
  onProgress?: (progress: PullProgress) => void;
  signal?: AbortSignal;
}

const DEFAULT_MODEL_ID = 'deepseek-r1-distill-qwen-1.5b';
export const DEMO_MODEL_ID = 'edgefleet-demo';

/**
 * Turns what the user named into a local GGUF file, downloading it into the cache when needed. With no
 * model named: the cached default DeepSeek model, else a download of it, else (offline) a generated demo
 * model, said plainly in the log and in the result's note. Aborting `signal` rejects (keeping the partial
 * download for a resume), never falls back to the demo model.
 */
export async function resolveModel(options: ResolveModelOptions): Promise<ResolvedModel> {
  const resolved = await locateModel(options);
  // llama.cpp aborts the whole process on a malformed file; refuse it here with a clear message instead.
  const header = await readGgufHeader(resolved.path);
  return { ...resolved, contextLength: ggufArchitecture(header).contextLength };
}

async function locateModel(options: ResolveModelOptions): Promise<Omit<ResolvedModel, 'contextLength'>> {
  const { model, log } = options;
  if (model === undefined) return resolveDefault(options);
  if (/^(hf:|https?:\/\/)/i.test(model)) {
    const path = await fetchRef(options, model);
    return { path, modelId: fileId(model), source: model, demo: false };
  }
  const [id = '', quant] = model.split(':');
  const ref = ggufRefFor(id, quant);
  if (ref !== undefined) {
    const path = await fetchRef(options, ref);
    return { path, modelId: id.toLowerCase(), source: ref, demo: false };
  }
  if (await exists(model)) return { path: model, modelId: fileId(model), source: model, demo: false };
  log.debug({ model }, 'model not found');
  throw new EdgeFleetError(
    'invalid_argument',
    `--model "${model}" is not a file, an hf:user/repo/file.gguf reference, an https URL or a known model id (${modelIdsWithGguf().join(', ')})`,
  );
}

async function resolveDefault(options: ResolveModelOptions): Promise<Omit<ResolvedModel, 'contextLength'>> {
  const cached = await findCached(options.home, DEFAULT_MODEL_REF);
  if (cached) return { path: cached.path, modelId: DEFAULT_MODEL_ID, source: DEFAULT_MODEL_REF, demo: false };
  let reason = 'offline mode (--offline or HF_HUB_OFFLINE=1)';
  if (!options.offline) {
    try {
      const path = await fetchRef(options, DEFAULT_MODEL_REF);
      return { path, modelId: DEFAULT_MODEL_ID, source: DEFAULT_MODEL_REF, demo: false };
    } catch (error) {
      // Ctrl-C during the download stops `up`; only a download that failed by itself falls back to the demo.
      if (options.signal?.aborted) throw error;
      reason = error instanceof Error ? error.message : String(error);
    }
  }
  const note =
    `The default model (${DEFAULT_MODEL_REF}) is not cached and could not be downloaded: ${reason}. ` +
    'Serving a small generated DEMO model instead: its answers are fixed placeholder text, not a real LLM. ' +
    'Run `edgefleet pull` when online, or pass --model FILE.gguf.';
  options.log.warn({ reason }, note);
  const path = join(modelsDir(options.home), 'demo', `${DEMO_MODEL_ID}.gguf`);
  if (!(await exists(path))) {
    await mkdir(join(modelsDir(options.home), 'demo'), { recursive: true });
    await makeModel(path, { think: true });
  }
  return { path, modelId: DEMO_MODEL_ID, source: 'generated', demo: true, note };
}

async function fetchRef(options: ResolveModelOptions, ref: string): Promise<string> {
  const cached = await findCached(options.home, ref);
  if (cached) return cached.path;
  if (options.offline) {
    throw new EdgeFleetError(
      'download_failed',
      `${ref} is not in the cache and downloads are off (offline mode)`,
    );
  }
  options.log.info({ ref }, 'downloading model');
  const result = await pullModel({
    home: options.home,
    ref,
    logger: options.log,
    ...(options.onProgress && { onProgress: options.onProgress }),
    ...(options.signal && { signal: options.signal }),
  });
  return result.path;
}

/** A model id from a file name: `DeepSeek-R1-Distill-Qwen-1.5B-Q4_K_M.gguf` → that name without `.gguf`. */
function fileId(pathOrRef: string): string {
  return basename(pathOrRef.split('?')[0] ?? pathOrRef).replace(/\.gguf$/i, '');
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}
