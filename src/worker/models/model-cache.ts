import { statSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { EdgeFleetError } from '../../spec/edgefleet-error.js';
import { readCachedModel, type CachedModel } from './cached-model.js';
import { cachePath, parseModelRef } from './model-ref.js';

export type { CachedModel } from './cached-model.js';
export { parseModelRef, type ModelRef } from './model-ref.js';
export { pullModel, type PullModelOptions, type PullProgress, type PullResult } from './pull-model.js';

/** The model `edgefleet up` serves when none is named: DeepSeek-R1-Distill-Qwen-1.5B, Q4_K_M (~1.1 GB). */
export const DEFAULT_MODEL_REF =
  'hf:bartowski/DeepSeek-R1-Distill-Qwen-1.5B-GGUF/DeepSeek-R1-Distill-Qwen-1.5B-Q4_K_M.gguf';

/**
 * The EdgeFleet home directory: the `--home` flag, else $EDGEFLEET_HOME, else ~/.edgefleet. A leading
 * `~` is expanded; the result is absolute. One that exists and is not a directory is a usage error.
 */
export function resolveHome(flag?: string): string {
  const chosen = [flag, process.env['EDGEFLEET_HOME']].find(
    (value) => value !== undefined && value.trim() !== '',
  );
  const raw = chosen?.trim() ?? join(homedir(), '.edgefleet');
  const expanded = raw === '~' ? homedir() : raw.startsWith('~/') ? join(homedir(), raw.slice(2)) : raw;
  const home = resolve(expanded);
  // Said here rather than as a bare ENOTDIR from the first file read or written under it.
  if (statSync(home, { throwIfNoEntry: false })?.isDirectory() === false) {
    const from = chosen === undefined ? 'the default' : chosen === flag ? '--home' : '$EDGEFLEET_HOME';
    throw new EdgeFleetError('invalid_argument', `the EdgeFleet home ${home} (${from}) is not a directory`);
  }
  return home;
}

/** Where models live: `<home>/models`. */
export function modelsDir(home: string): string {
  return join(resolve(home), 'models');
}

const SKIP = /\.(part|lock|json|tmp)$/;

async function findModelFiles(dir: string, out: string[]): Promise<void> {
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch {
    return;
  }
  for (const entry of entries) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) await findModelFiles(path, out);
    else if (entry.isFile() && entry.name.toLowerCase().endsWith('.gguf') && !SKIP.test(entry.name))
      out.push(path);
  }
}

/** Every complete GGUF model under `<home>/models`, sorted by ref. Partial downloads are not listed. */
export async function listCachedModels(home: string): Promise<CachedModel[]> {
  const dir = modelsDir(home);
  const paths: string[] = [];
  await findModelFiles(dir, paths);
  const models = await Promise.all(paths.map((path) => readCachedModel(dir, path)));
  return models
    .filter((model): model is CachedModel => model !== null)
    .sort((a, b) => a.ref.localeCompare(b.ref) || a.path.localeCompare(b.path));
}

/**
 * The cached copy of `ref`, or null when it has not been pulled (no network access). Throws
 * `invalid_argument` for a malformed ref.
 */
export async function findCached(home: string, ref: string): Promise<CachedModel | null> {
  const dir = modelsDir(home);
  return readCachedModel(dir, cachePath(dir, parseModelRef(ref)));
}
