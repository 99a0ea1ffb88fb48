import { constants } from 'node:fs';
import { access } from 'node:fs/promises';
import { delimiter, isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { engineIds, type EngineId } from '../../engines/adapter/engine-adapter.js';
import { EdgeFleetError } from '../../spec/edgefleet-error.js';

/**
 * Where a worker finds each external engine's executable: `--engine-bin ENGINE=PATH`, else the adapter's
 * default command on PATH; for llama-server also the binary `scripts/build-llama-cpp.sh` builds into
 * `.cache/llama.cpp/bin` of the package.
 */
export type EngineBins = Partial<Record<EngineId, string>>;

const packageRoot = fileURLToPath(new URL('../../../', import.meta.url));

/** Built by scripts/build-llama-cpp.sh. */
export const bundledLlamaServer = join(packageRoot, '.cache', 'llama.cpp', 'bin', 'llama-server');

/** Parses repeated `ENGINE=PATH` values (`--engine-bin vllm=/opt/venv/bin/vllm`). */
export function parseEngineBins(values: readonly string[]): EngineBins {
  const bins: EngineBins = {};
  for (const value of values) {
    const at = value.indexOf('=');
    const engine = value.slice(0, at).trim();
    const path = value.slice(at + 1).trim();
    if (at <= 0 || path === '') {
      throw new EdgeFleetError('invalid_argument', `--engine-bin must be ENGINE=PATH, got "${value}"`, {
        param: 'engine-bin',
      });
    }
    if (!(engineIds as readonly string[]).includes(engine) || engine === 'embedded') {
      throw new EdgeFleetError(
        'invalid_argument',
        `--engine-bin: unknown engine "${engine}" (one of ${engineIds.filter((e) => e !== 'embedded').join(', ')})`,
        { param: 'engine-bin' },
      );
    }
    bins[engine as EngineId] = path;
  }
  return bins;
}

async function isExecutable(path: string): Promise<boolean> {
  try {
    await access(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** `command` as an absolute path: itself when it has a slash, else the first match on PATH. */
export async function which(command: string, path = process.env['PATH'] ?? ''): Promise<string | undefined> {
  if (command.includes('/')) {
    const full = isAbsolute(command) ? command : resolve(command);
    return (await isExecutable(full)) ? full : undefined;
  }
  for (const dir of path.split(delimiter)) {
    if (dir === '') continue;
    const candidate = join(dir, command);
    if (await isExecutable(candidate)) return candidate;
  }
  return undefined;
}

export type ExecutableLookup = { ok: true; path: string } | { ok: false; reason: string };

/**
 * Finds the executable for `engine` whose adapter runs `defaultCommand` when none is configured. A miss
 * returns the reason to report, naming the flag that fixes it.
 */
export async function findEngineExecutable(
  engine: EngineId,
  defaultCommand: string,
  bins: EngineBins,
): Promise<ExecutableLookup> {
  const configured = bins[engine];
  const hint = `--engine-bin ${engine}=PATH`;
  if (configured !== undefined) {
    const found = await which(configured);
    return found !== undefined
      ? { ok: true, path: found }
      : {
          ok: false,
          reason: `${engine} executable ${configured} (from ${hint}) is missing or not executable`,
        };
  }
  const candidates = engine === 'llama-server' ? [defaultCommand, bundledLlamaServer] : [defaultCommand];
  for (const candidate of candidates) {
    const found = await which(candidate);
    if (found !== undefined) return { ok: true, path: found };
  }
  const where =
    engine === 'llama-server'
      ? `on PATH or at ${bundledLlamaServer} (build it with scripts/build-llama-cpp.sh)`
      : defaultCommand.includes('/')
        ? `at ${defaultCommand}`
        : 'on PATH';
  return {
    ok: false,
    reason: `${engine} is not installed on this node: no ${defaultCommand} ${where}; install it or start the worker with ${hint}`,
  };
}
