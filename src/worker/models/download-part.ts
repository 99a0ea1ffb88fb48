import { createHash, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, stat, statfs, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { IncomingMessage } from 'node:http';
import { EdgeFleetError } from '../../spec/edgefleet-error.js';
import type { Logger } from '../../telemetry/logger.js';
import { readPartMeta, writePartMeta, type CacheFiles, type PartMeta } from './cache-files.js';
import { assertGgufPrefix, GGUF_PREFIX_BYTES } from './gguf-magic.js';
import { networkError, openDownload } from './http-download.js';
import type { ModelRef } from './model-ref.js';
import type { TransferMeter } from './transfer-meter.js';

export interface DownloadPartOptions {
  ref: ModelRef;
  url: URL;
  files: CacheFiles;
  /** From the user (`--sha256`); wins over what the server says. Lowercase hex. */
  sha256?: string | undefined;
  token?: string | undefined;
  signal?: AbortSignal | undefined;
  connectTimeoutMs: number;
  idleTimeoutMs: number;
  meter: TransferMeter;
  logger: Logger;
}

/** A finished, verified `.part` file, ready to be renamed into place. */
export interface DownloadedPart {
  sha256: string;
  bytes: number;
  etag: string | null;
  /** Where the expected sha256 came from; null when the server gave none (the sha256 is then only recorded). */
  verifiedBy: 'sha256 option' | 'x-linked-etag' | 'etag' | null;
}

/** Deletes a partial download and its sidecar. */
export async function discardPart(files: CacheFiles): Promise<void> {
  await Promise.all([
    unlink(files.part).catch(() => undefined),
    unlink(files.partMeta).catch(() => undefined),
  ]);
}

/** The sha256 inside an ETag-like header value (`"<64 hex>"`, `W/"…"`), or null. */
export function sha256FromEtag(value: string | null | undefined): string | null {
  const bare = value?.replace(/^W\//, '').replace(/"/g, '').trim().toLowerCase();
  return bare && /^[0-9a-f]{64}$/.test(bare) ? bare : null;
}

function parseContentRange(value: string | undefined): { start: number | null; total: number | null } | null {
  const match = value ? /^bytes (?:(\d+)-\d+|\*)\/(\d+|\*)$/.exec(value.trim()) : null;
  if (!match) return null;
  return {
    start: match[1] ? Number(match[1]) : null,
    total: match[2] && match[2] !== '*' ? Number(match[2]) : null,
  };
}

/** Feeds the first `bytes` of a file into `hash` and returns its first GGUF_PREFIX_BYTES bytes. */
async function hashExisting(path: string, bytes: number, hash: Hash): Promise<Buffer> {
  let head = Buffer.alloc(0);
  if (bytes === 0) return head;
  for await (const chunk of createReadStream(path, { start: 0, end: bytes - 1 }) as AsyncIterable<Buffer>) {
    if (head.length < GGUF_PREFIX_BYTES)
      head = Buffer.concat([head, chunk.subarray(0, GGUF_PREFIX_BYTES - head.length)]);
    hash.update(chunk);
  }
  return head;
}

/** How much of an earlier attempt can be kept: the part's size if its sidecar matches this ref, else 0. */
async function resumableOffset(
  files: CacheFiles,
  ref: ModelRef,
): Promise<{ offset: number; meta: PartMeta | null }> {
  const [meta, size] = await Promise.all([
    readPartMeta(files),
    stat(files.part).then(
      (s) => s.size,
      () => 0,
    ),
  ]);
  if (size === 0 || !meta || meta.ref !== ref.ref || (meta.totalBytes !== null && size > meta.totalBytes)) {
    await discardPart(files);
    return { offset: 0, meta: null };
  }
  return { offset: size, meta };
}

/** Fails before downloading when the disk cannot hold the rest of the file (plus 1% and 64 MiB to spare). */
async function assertFreeSpace(
  files: CacheFiles,
  neededBytes: number,
  response: IncomingMessage,
): Promise<void> {
  const fs = await statfs(dirname(files.part)).catch(() => null);
  if (!fs) return;
  const freeBytes = fs.bavail * fs.bsize;
  if (freeBytes >= neededBytes * 1.01 + 64 * 2 ** 20) return;
  response.destroy();
  const gib = (bytes: number) => `${(bytes / 2 ** 30).toFixed(2)} GiB`;
  throw new EdgeFleetError(
    'insufficient_storage',
    `not enough disk space in ${dirname(files.part)}: ${gib(neededBytes)} needed, ${gib(freeBytes)} free`,
    { data: { neededBytes, freeBytes } },
  );
}

function header(response: IncomingMessage, name: string): string | null {
  const value = response.headers[name];
  return typeof value === 'string' ? value : null;
}

/**
 * One download attempt into `files.part`: resumes from what is already there with `Range` (guarded by
 * `If-Range`, the recorded size and the recorded expected sha256), restarts from zero when the server
 * answers 200, checks the GGUF magic as soon as 8 bytes exist, and hashes while streaming. On success
 * the part is complete and its sha256 verified against the best source available.
 */
export async function downloadPart(options: DownloadPartOptions): Promise<DownloadedPart> {
  const { ref, files, logger } = options;
  for (let restart = 0; ; restart++) {
    const { offset, meta } = await resumableOffset(files, ref);
    const headers: Record<string, string> = {};
    if (offset > 0 && meta) {
      headers['range'] = `bytes=${offset}-`;
      const validator = meta.etag && !meta.etag.startsWith('W/') ? meta.etag : meta.lastModified;
      if (validator) headers['if-range'] = validator;
    }
    const opened = await openDownload({
      url: options.url,
      ref: ref.ref,
      isHuggingFace: ref.kind === 'hf',
      headers,
      token: options.token,
      signal: options.signal,
      connectTimeoutMs: options.connectTimeoutMs,
    });
    const { response } = opened;
    const etag = header(response, 'etag');
    const linked = sha256FromEtag(opened.linkedEtag);
    const fromServer = linked ?? sha256FromEtag(etag);
    const range = parseContentRange(header(response, 'content-range') ?? undefined);
    let start = 0;
    let totalBytes: number | null = null;
    if (opened.status === 206 || opened.status === 416) {
      const sameFile =
        meta !== null &&
        (meta.expectedSha256 === null || fromServer === null || meta.expectedSha256 === fromServer) &&
        (range?.total == null || meta.totalBytes === null || range.total === meta.totalBytes);
      const complete = opened.status === 416 && sameFile && meta?.totalBytes === offset;
      if (opened.status === 206 && sameFile && range?.start === offset) {
        start = offset;
        totalBytes = range.total ?? meta?.totalBytes ?? null;
      } else if (!complete) {
        response.destroy();
        await discardPart(files);
        if (restart > 0)
          throw new EdgeFleetError('download_failed', `server sent an unusable range for ${ref.ref}`);
        logger.warn(
          { ref: ref.ref, status: opened.status, contentRange: range },
          'cannot resume; starting over',
        );
        continue;
      } else {
        response.resume();
        start = offset;
        totalBytes = offset;
      }
    } else {
      if (offset > 0)
        logger.warn({ ref: ref.ref, offset }, 'server ignored the Range request; starting over');
      const length = Number(header(response, 'content-length') ?? NaN);
      totalBytes = Number.isSafeInteger(length) ? length : opened.linkedSizeBytes;
    }
    // A resumed part keeps the sha256 its first response announced, even if this response has none.
    const recorded = start > 0 ? (meta?.expectedSha256 ?? null) : null;
    const expected = options.sha256 ?? fromServer ?? recorded;
    const verifiedBy = options.sha256 ? 'sha256 option' : linked ? 'x-linked-etag' : expected ? 'etag' : null;
    await writePartMeta(files, {
      version: 1,
      ref: ref.ref,
      url: options.url.href,
      etag,
      lastModified: header(response, 'last-modified'),
      totalBytes,
      expectedSha256: fromServer ?? recorded,
    });
    if (totalBytes !== null) await assertFreeSpace(files, totalBytes - start, response);
    if (start > 0) logger.info({ ref: ref.ref, offset: start, totalBytes }, 'resuming download');
    const sha256 = await receive(options, response, start, totalBytes, opened.status === 416);
    if (expected && sha256 !== expected) {
      await discardPart(files);
      throw new EdgeFleetError(
        'checksum_mismatch',
        `sha256 of ${ref.ref} is ${sha256} but ${verifiedBy} says ${expected}; the download was deleted`,
        { data: { ref: ref.ref, expected, actual: sha256, source: verifiedBy } },
      );
    }
    return { sha256, bytes: options.meter.receivedBytes, etag, verifiedBy };
  }
}

/** Streams the body onto the part (after hashing what is there) and returns the sha256 of the whole file. */
async function receive(
  options: DownloadPartOptions,
  response: IncomingMessage,
  start: number,
  totalBytes: number | null,
  alreadyComplete: boolean,
): Promise<string> {
  const { files, meter, ref } = options;
  const hash = createHash('sha256');
  let head = await hashExisting(files.part, start, hash);
  let checked = false;
  const check = () => {
    if (!checked && head.length >= GGUF_PREFIX_BYTES) {
      assertGgufPrefix(head, ref.ref);
      checked = true;
    }
  };
  meter.start(start, totalBytes);
  const handle = await open(files.part, start > 0 ? 'a' : 'w');
  let timer: NodeJS.Timeout | undefined;
  const arm = () => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      const error = new EdgeFleetError(
        'download_failed',
        `no data from ${options.url.host} for ${options.idleTimeoutMs / 1000} s while downloading ${ref.ref}`,
        { data: { ref: ref.ref, unreachable: false, idle: true } },
      );
      response.destroy(error);
    }, options.idleTimeoutMs);
  };
  try {
    check();
    if (!alreadyComplete) {
      arm();
      for await (const chunk of response as AsyncIterable<Buffer>) {
        arm();
        if (!checked) head = Buffer.concat([head, chunk.subarray(0, GGUF_PREFIX_BYTES - head.length)]);
        check();
        hash.update(chunk);
        await handle.write(chunk);
        meter.add(chunk.length);
      }
    }
  } catch (error) {
    response.destroy();
    if (error instanceof EdgeFleetError && error.code === 'invalid_model_file') {
      await handle.close().catch(() => undefined);
      await discardPart(files);
      throw error;
    }
    if (options.signal?.aborted) throw options.signal.reason;
    const wrapped = networkError(error, options.url, ref.ref, 'body');
    throw new EdgeFleetError(
      wrapped.code,
      `${wrapped.message} after ${meter.receivedBytes} bytes; run the pull again to resume`,
      { data: { ...wrapped.data, receivedBytes: meter.receivedBytes }, cause: error },
    );
  } finally {
    clearTimeout(timer);
    await handle.close().catch(() => undefined);
  }
  if (!checked) {
    await discardPart(files);
    assertGgufPrefix(head, ref.ref);
  }
  meter.report(true);
  if (totalBytes !== null && meter.receivedBytes !== totalBytes) {
    throw new EdgeFleetError(
      'download_failed',
      `connection to ${options.url.host} closed after ${meter.receivedBytes} of ${totalBytes} bytes of ${ref.ref}; run the pull again to resume`,
      { data: { ref: ref.ref, receivedBytes: meter.receivedBytes, totalBytes, unreachable: false } },
    );
  }
  return hash.digest('hex');
}
