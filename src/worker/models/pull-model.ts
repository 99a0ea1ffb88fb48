import { mkdir, rename, unlink } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { readGgufHeader } from '../../catalog/gguf/read-gguf-header.js';
import { EdgeFleetError } from '../../spec/edgefleet-error.js';
import { createLogger, type Logger } from '../../telemetry/logger.js';
import { cacheFiles, writeManifest, type CacheFiles } from './cache-files.js';
import { readCachedModel, sha256File } from './cached-model.js';
import { discardPart, downloadPart } from './download-part.js';
import { acquireLock } from './file-lock.js';
import { cachePath, DEFAULT_HF_ENDPOINT, downloadUrl, parseModelRef } from './model-ref.js';
import { TransferMeter, type PullProgress } from './transfer-meter.js';

export type { PullProgress } from './transfer-meter.js';

export interface PullModelOptions {
  /** The EdgeFleet home (see resolveHome); models go under `<home>/models`. */
  home: string;
  /** `hf:<user>/<repo>[@<revision>]/<file.gguf>` or an https URL. */
  ref: string;
  onProgress?: (progress: PullProgress) => void;
  /** Aborting keeps the partial download, so the next pull resumes it. */
  signal?: AbortSignal;
  /** Expected sha256 (hex); checked instead of what the server announces. */
  sha256?: string;
  /** Default: $HF_ENDPOINT, else https://huggingface.co. */
  hfEndpoint?: string;
  /** Default: $HF_TOKEN (or $HUGGING_FACE_HUB_TOKEN). Sent to the HF endpoint only. */
  hfToken?: string;
  /** Limit for DNS + connect + response headers. Default 15 s. */
  connectTimeoutMs?: number;
  /** A download that receives nothing for this long fails (retryably). Default 30 s. */
  idleTimeoutMs?: number;
  /** Attempts for failures after the server was reached (dropped connection, 5xx). Default 5. */
  maxAttempts?: number;
  /** First retry delay, doubled each time (at most 30 s). Default 1 s. */
  retryDelayMs?: number;
  logger?: Logger;
}

export interface PullResult {
  /** The canonical ref. */
  ref: string;
  path: string;
  bytes: number;
  sha256: string;
  fromCache: boolean;
}

function normalizeSha256(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  const hex = value
    .trim()
    .toLowerCase()
    .replace(/^sha256:/, '');
  if (!/^[0-9a-f]{64}$/.test(hex)) {
    throw new EdgeFleetError('invalid_argument', `--sha256 must be 64 hex digits, got "${value}"`, {
      param: 'sha256',
    });
  }
  return hex;
}

function nonEmpty(...values: Array<string | undefined>): string | undefined {
  return values.find((value) => value !== undefined && value.trim() !== '')?.trim();
}

/** Errors worth another attempt: the server was reached and the failure may be transient. */
function shouldRetry(error: unknown, attempt: number, maxAttempts: number, signal?: AbortSignal): boolean {
  return (
    attempt < maxAttempts &&
    !signal?.aborted &&
    error instanceof EdgeFleetError &&
    error.isRetryable &&
    error.data['unreachable'] !== true
  );
}

/** Returns the cached file when it is there and matches `sha256` (hashing a file that has no manifest). */
async function useCached(
  modelsDir: string,
  files: CacheFiles,
  refName: string,
  url: URL,
  sha256: string | undefined,
  logger: Logger,
): Promise<PullResult | null> {
  const cached = await readCachedModel(modelsDir, files.model);
  if (!cached) return null;
  const actual = cached.sha256 ?? (await sha256File(files.model));
  if (sha256 && actual !== sha256) {
    logger.warn(
      { ref: refName, cached: actual, expected: sha256 },
      'cached file has another sha256; downloading again',
    );
    return null;
  }
  if (!cached.sha256) {
    await writeManifest(files, {
      version: 1,
      ref: refName,
      url: url.href,
      sha256: actual,
      sizeBytes: cached.sizeBytes,
      etag: null,
      downloadedAt: cached.modifiedAt,
    });
  }
  return { ref: refName, path: files.model, bytes: cached.sizeBytes, sha256: actual, fromCache: true };
}

/**
 * Downloads a GGUF model into the cache, or returns the cached copy. Safe to run concurrently for the
 * same file (a lock file makes the second pull wait, then find it cached), resumes an interrupted
 * download, verifies the sha256 and refuses anything that is not GGUF v2/v3.
 */
export async function pullModel(options: PullModelOptions): Promise<PullResult> {
  const logger = options.logger ?? createLogger('pull');
  const ref = parseModelRef(options.ref);
  const sha256 = normalizeSha256(options.sha256);
  const url = downloadUrl(
    ref,
    nonEmpty(options.hfEndpoint, process.env['HF_ENDPOINT']) ?? DEFAULT_HF_ENDPOINT,
  );
  const token =
    ref.kind === 'hf'
      ? nonEmpty(options.hfToken, process.env['HF_TOKEN'], process.env['HUGGING_FACE_HUB_TOKEN'])
      : undefined;
  const modelsDir = join(resolve(options.home), 'models');
  const files = cacheFiles(cachePath(modelsDir, ref));
  await mkdir(dirname(files.model), { recursive: true });
  const lock = await acquireLock(files.lock, {
    ...(options.signal ? { signal: options.signal } : {}),
    onWait: (holder) =>
      logger.info({ ref: ref.ref, holder }, 'another pull of this model is running; waiting for it'),
  });
  try {
    const cached = await useCached(modelsDir, files, ref.ref, url, sha256, logger);
    if (cached) return cached;
    if (/^(1|true|yes|on)$/i.test(process.env['HF_HUB_OFFLINE'] ?? '')) {
      throw new EdgeFleetError(
        'download_failed',
        `${ref.ref} is not in the cache and HF_HUB_OFFLINE is set`,
        {
          data: { ref: ref.ref, unreachable: true, offline: true },
        },
      );
    }
    const meter = new TransferMeter({ onProgress: options.onProgress });
    const maxAttempts = options.maxAttempts ?? 5;
    for (let attempt = 1; ; attempt++) {
      try {
        const part = await downloadPart({
          ref,
          url,
          files,
          sha256,
          token,
          signal: options.signal,
          connectTimeoutMs: options.connectTimeoutMs ?? 15_000,
          idleTimeoutMs: options.idleTimeoutMs ?? 30_000,
          meter,
          logger,
        });
        // The whole header must parse and fit the file: llama.cpp aborts the process on a malformed one.
        await readGgufHeader(files.part).catch(async (error: unknown) => {
          await discardPart(files);
          throw error;
        });
        await unlink(files.manifest).catch(() => undefined);
        await rename(files.part, files.model);
        await writeManifest(files, {
          version: 1,
          ref: ref.ref,
          url: url.href,
          sha256: part.sha256,
          sizeBytes: part.bytes,
          etag: part.etag,
          downloadedAt: new Date().toISOString(),
        });
        await unlink(files.partMeta).catch(() => undefined);
        logger.info(
          {
            ref: ref.ref,
            path: files.model,
            bytes: part.bytes,
            sha256: part.sha256,
            verifiedBy: part.verifiedBy,
          },
          'model downloaded',
        );
        return { ref: ref.ref, path: files.model, bytes: part.bytes, sha256: part.sha256, fromCache: false };
      } catch (error) {
        if (!shouldRetry(error, attempt, maxAttempts, options.signal)) throw error;
        const delayMs = Math.min(30_000, (options.retryDelayMs ?? 1_000) * 2 ** (attempt - 1));
        logger.warn(
          { ref: ref.ref, attempt, maxAttempts, delayMs, err: (error as Error).message },
          'download interrupted; retrying',
        );
        await sleep(delayMs, undefined, options.signal ? { signal: options.signal } : {}).catch(
          (sleepError: unknown) => {
            throw options.signal?.aborted ? options.signal.reason : sleepError;
          },
        );
      }
    }
  } finally {
    await lock.release();
  }
}
