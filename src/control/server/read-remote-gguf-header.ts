/**
 * Reads the GGUF header of a model file over HTTP without downloading the weights: Range requests for the
 * first bytes, grown (only the missing part is fetched) until the header parses, up to a hard cap
 * (default 16 MiB) and within one overall timeout. The file size comes from Content-Range (206) or
 * Content-Length (200). A server that ignores Range and answers 200 with the whole body is read only up to
 * the cap, then the connection is dropped.
 */
import { EdgeFleetError } from '../../spec/edgefleet-error.js';
import {
  NeedMoreBytes,
  parseGgufHeader,
  type GgufHeader,
  type GgufParseLimits,
} from '../../catalog/gguf/gguf-header-parser.js';

export interface RemoteHeaderOptions {
  /** Extra request headers (e.g. authorization). */
  headers?: Record<string, string>;
  /** Most header bytes read (default 16 MiB). */
  maxHeaderBytes?: number;
  /** Bytes asked for first (default 256 KiB). */
  firstReadBytes?: number;
  /** All requests together (default 30 s). */
  timeoutMs?: number;
}

const DEFAULT_MAX_HEADER_BYTES = 16 * 1024 * 1024;
const DEFAULT_FIRST_READ_BYTES = 256 * 1024;
const DEFAULT_TIMEOUT_MS = 30_000;

/** A response body being read; `spare` holds bytes received past the last target. */
interface Body {
  reader: ReadableStreamDefaultReader<Uint8Array>;
  spare: Buffer | undefined;
}

/** Appends from `body` to `chunks` until `total` bytes are held or the stream ends; never more than `total`. */
async function readUpTo(body: Body, chunks: Buffer[], have: number, total: number): Promise<number> {
  let held = have;
  while (held < total) {
    let chunk = body.spare;
    body.spare = undefined;
    if (!chunk) {
      const { done, value } = await body.reader.read();
      if (done) break;
      chunk = Buffer.from(value.buffer, value.byteOffset, value.byteLength);
    }
    const room = total - held;
    if (chunk.length > room) body.spare = chunk.subarray(room);
    chunks.push(chunk.subarray(0, room));
    held += Math.min(chunk.length, room);
  }
  return held;
}

function failure(url: URL, what: string, cause?: unknown): EdgeFleetError {
  return new EdgeFleetError('download_failed', what, {
    data: { url: url.href },
    ...(cause !== undefined && { cause }),
  });
}

/** One GET with `Range: bytes=from-(to-1)`; HTTP errors and unreachable servers become clear failures. */
async function get(url: URL, from: number, to: number, headers: Record<string, string>, signal: AbortSignal) {
  let response: Response;
  try {
    response = await fetch(url, {
      headers: { ...headers, range: `bytes=${from}-${to - 1}`, 'accept-encoding': 'identity' },
      redirect: 'follow',
      signal,
    });
  } catch (error) {
    if (signal.aborted) throw failure(url, 'timed out reading the GGUF header', error);
    const cause = (error as { cause?: { code?: string; message?: string } }).cause;
    throw failure(url, `unreachable (${cause?.code ?? cause?.message ?? String(error)})`, error);
  }
  if (response.status !== 200 && response.status !== 206) {
    await response.body?.cancel().catch(() => undefined);
    if (response.status === 416) {
      throw new EdgeFleetError('invalid_model_file', 'not a GGUF file (it is empty)');
    }
    const hint =
      response.status === 401 || response.status === 403
        ? ' (access denied: for a gated or private Hugging Face model set HF_TOKEN)'
        : response.status === 404
          ? ' (no such file)'
          : '';
    throw failure(url, `HTTP ${response.status}${hint}`);
  }
  return response;
}

/** Total size from `Content-Range: bytes a-b/TOTAL`, else from Content-Length of a 200. */
function fileSize(response: Response): number | undefined {
  if (response.status === 206) {
    const total = /\/(\d+)\s*$/.exec(response.headers.get('content-range') ?? '')?.[1];
    return total === undefined ? undefined : Number(total);
  }
  const length = response.headers.get('content-length');
  return length !== null && /^\d+$/.test(length) ? Number(length) : undefined;
}

const rangeStart = (response: Response): number | undefined => {
  const start = /^bytes\s+(\d+)-/.exec(response.headers.get('content-range') ?? '')?.[1];
  return start === undefined ? undefined : Number(start);
};

/**
 * Reads and parses the GGUF header at `url`. Failures (messages without the URL, which is in `data.url`):
 * `download_failed` (unreachable, HTTP error, timeout) or `invalid_model_file` (not GGUF, header too large).
 */
export async function readRemoteGgufHeader(url: URL, options: RemoteHeaderOptions = {}): Promise<GgufHeader> {
  const cap = options.maxHeaderBytes ?? DEFAULT_MAX_HEADER_BYTES;
  const headers = options.headers ?? {};
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const signal = AbortSignal.timeout(timeoutMs);
  const chunks: Buffer[] = [];
  let have = 0;
  let target = Math.min(options.firstReadBytes ?? DEFAULT_FIRST_READ_BYTES, cap);
  const first = await get(url, 0, target, headers, signal);
  // A 200 ignored the Range header: keep reading this one body (up to the cap) instead of asking again.
  let wholeBody: Body | undefined;
  try {
    let size = fileSize(first);
    if (first.status === 200 || rangeStart(first) === 0) {
      if (!first.body) throw failure(url, 'empty response');
      const body: Body = { reader: first.body.getReader(), spare: undefined };
      if (first.status === 200) wholeBody = body;
      have = await readUpTo(body, chunks, have, target);
      if (first.status === 206) await body.reader.cancel().catch(() => undefined);
      // A body that ended early is the whole file.
      if (size === undefined && have < target) size = have;
    } else {
      await first.body?.cancel().catch(() => undefined);
      throw failure(
        url,
        `answered a range that does not start at byte 0 (${first.headers.get('content-range')})`,
      );
    }
    if (size === undefined)
      throw failure(url, 'the server gave no file size (Content-Range or Content-Length)');
    const limits: GgufParseLimits = {
      limitBytes: Math.min(size, cap),
      maxTensors: 65_536,
      maxMetadataEntries: 16_384,
      maxArrayItems: 8 * 1024 * 1024,
      maxArrayDepth: 3,
    };
    const magic = Buffer.concat(chunks, have).subarray(0, 4);
    if (magic.length === 4 && magic.toString('latin1') !== 'GGUF') {
      throw new EdgeFleetError(
        'invalid_model_file',
        `not a GGUF file (it starts with ${JSON.stringify(magic.toString('latin1'))})`,
      );
    }
    for (;;) {
      try {
        return parseGgufHeader(Buffer.concat(chunks, have), limits, size);
      } catch (error) {
        if (error instanceof EdgeFleetError && cap < size && /limit/.test(error.message)) {
          throw new EdgeFleetError(
            'invalid_model_file',
            `GGUF header too large: it does not end within the ${cap}-byte limit (${error.message})`,
            { data: { url: url.href, maxHeaderBytes: cap }, cause: error },
          );
        }
        if (!(error instanceof NeedMoreBytes)) throw error;
        target = Math.min(limits.limitBytes, Math.max(have * 4, error.neededBytes));
      }
      const before = have;
      if (wholeBody) {
        have = await readUpTo(wholeBody, chunks, have, target);
      } else {
        const more = await get(url, have, target, headers, signal);
        if (more.status !== 206 || rangeStart(more) !== have || !more.body) {
          await more.body?.cancel().catch(() => undefined);
          throw failure(url, `answered HTTP ${more.status} to a follow-up Range request`);
        }
        const body: Body = { reader: more.body.getReader(), spare: undefined };
        have = await readUpTo(body, chunks, have, target);
        await body.reader.cancel().catch(() => undefined);
      }
      if (have === before) throw new EdgeFleetError('invalid_model_file', 'the file ended early');
    }
  } catch (error) {
    if (signal.aborted && !(error instanceof EdgeFleetError)) {
      throw failure(url, `timed out after ${timeoutMs} ms reading the GGUF header`, error);
    }
    throw error;
  } finally {
    await wholeBody?.reader.cancel().catch(() => undefined);
  }
}
