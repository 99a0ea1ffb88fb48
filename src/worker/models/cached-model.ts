import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { relative, sep } from 'node:path';
import { cacheFiles, readManifest } from './cache-files.js';
import { assertGgufFile } from './gguf-magic.js';

/** One model file in the cache. */
export interface CachedModel {
  /** The ref it was pulled as (`hf:…` or a URL); for a file put there by hand, derived from its path. */
  ref: string;
  path: string;
  sizeBytes: number;
  /** From the manifest written at download time; null for a file without one (not verified). */
  sha256: string | null;
  /** ISO 8601. */
  modifiedAt: string;
}

/** Guesses the ref of a file without a manifest from where it sits under `<home>/models`. */
function refFromPath(modelsDir: string, path: string): string {
  const parts = relative(modelsDir, path).split(sep);
  if (parts[0] === 'hf' && parts.length >= 5) {
    const [, user, repo, revision = 'main', ...file] = parts;
    let rev = revision;
    try {
      rev = decodeURIComponent(revision);
    } catch {
      // keep it as it is
    }
    return `hf:${user}/${repo}${rev === 'main' ? '' : `@${rev}`}/${file.join('/')}`;
  }
  return path;
}

/**
 * Describes the model file at `path`, or returns null when there is none (or it is not a GGUF file).
 * A manifest whose recorded size disagrees with the file is ignored (the file then counts as unverified).
 */
export async function readCachedModel(modelsDir: string, path: string): Promise<CachedModel | null> {
  const files = cacheFiles(path);
  let size: number;
  let mtime: Date;
  try {
    const info = await stat(path);
    if (!info.isFile()) return null;
    size = info.size;
    mtime = info.mtime;
    await assertGgufFile(path);
  } catch {
    return null;
  }
  const manifest = await readManifest(files);
  const valid = manifest !== null && manifest.sizeBytes === size;
  return {
    ref: valid ? manifest.ref : refFromPath(modelsDir, path),
    path,
    sizeBytes: size,
    sha256: valid ? manifest.sha256 : null,
    modifiedAt: mtime.toISOString(),
  };
}

/** The sha256 of a whole file, hex. */
export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path) as AsyncIterable<Buffer>) hash.update(chunk);
  return hash.digest('hex');
}
