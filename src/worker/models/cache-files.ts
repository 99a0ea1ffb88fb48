import { readFile, rename, writeFile } from 'node:fs/promises';
import { z } from 'zod';

/** The JSON manifest written beside every downloaded model: `<file>.json`. */
export const modelManifestSchema = z.object({
  version: z.literal(1),
  ref: z.string(),
  url: z.string(),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  sizeBytes: z.number().int().nonnegative(),
  etag: z.string().nullable(),
  downloadedAt: z.string(),
});
export type ModelManifest = z.infer<typeof modelManifestSchema>;

/** The sidecar of an unfinished download: `<file>.part.json`, used to decide whether a resume is safe. */
export const partMetaSchema = z.object({
  version: z.literal(1),
  ref: z.string(),
  url: z.string(),
  etag: z.string().nullable(),
  lastModified: z.string().nullable(),
  totalBytes: z.number().int().nonnegative().nullable(),
  expectedSha256: z.string().nullable(),
});
export type PartMeta = z.infer<typeof partMetaSchema>;

/** The files that belong to one cached model, all beside the model file itself. */
export interface CacheFiles {
  model: string;
  manifest: string;
  part: string;
  partMeta: string;
  lock: string;
}

/** Paths of the manifest, partial download, its sidecar and the lock for a model file path. */
export function cacheFiles(modelPath: string): CacheFiles {
  return {
    model: modelPath,
    manifest: `${modelPath}.json`,
    part: `${modelPath}.part`,
    partMeta: `${modelPath}.part.json`,
    lock: `${modelPath}.lock`,
  };
}

async function readJson<T>(path: string, schema: z.ZodType<T>): Promise<T | null> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    return null;
  }
  try {
    const parsed = schema.safeParse(JSON.parse(text));
    return parsed.success ? parsed.data : null;
  } catch {
    return null;
  }
}

/** Writes JSON through a temporary file and a rename, so a reader never sees half a file. */
async function writeJsonAtomic(path: string, value: unknown): Promise<void> {
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, `${JSON.stringify(value, null, 2)}\n`);
  await rename(tmp, path);
}

/** Reads a model's manifest; null when missing or unreadable (the model then counts as unverified). */
export function readManifest(files: CacheFiles): Promise<ModelManifest | null> {
  return readJson(files.manifest, modelManifestSchema);
}

export function writeManifest(files: CacheFiles, manifest: ModelManifest): Promise<void> {
  return writeJsonAtomic(files.manifest, manifest);
}

/** Reads the sidecar of a partial download; null when missing or unreadable (the part is then discarded). */
export function readPartMeta(files: CacheFiles): Promise<PartMeta | null> {
  return readJson(files.partMeta, partMetaSchema);
}

export function writePartMeta(files: CacheFiles, meta: PartMeta): Promise<void> {
  return writeJsonAtomic(files.partMeta, meta);
}
