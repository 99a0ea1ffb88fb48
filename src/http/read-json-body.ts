import { isUtf8 } from 'node:buffer';
import type { IncomingMessage } from 'node:http';
import type { z } from 'zod';
import { clipped, EdgeFleetError } from '../spec/edgefleet-error.js';
import { sendContinue } from './expect-continue.js';

/**
 * Reads a request body up to `maxBytes`. A body over the limit is refused as soon as the limit is
 * crossed (from Content-Length or while streaming), without buffering the rest.
 */
export async function readBody(request: IncomingMessage, maxBytes: number): Promise<Buffer> {
  const encoding = request.headers['content-encoding'];
  if (encoding !== undefined && encoding.trim().toLowerCase() !== 'identity') {
    request.resume();
    throw new EdgeFleetError(
      'unsupported_media_type',
      `content-encoding "${clipped(encoding, 40)}" is not supported; send the body uncompressed`,
    );
  }
  const declared = Number(request.headers['content-length'] ?? NaN);
  if (Number.isFinite(declared) && declared > maxBytes) {
    request.resume();
    throw new EdgeFleetError(
      'request_too_large',
      `request body is ${declared} bytes; the limit is ${maxBytes}`,
    );
  }
  sendContinue(request);
  return new Promise<Buffer>((resolve, reject) => {
    let chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size <= maxBytes) return void chunks.push(chunk);
      cleanup();
      request.resume();
      reject(new EdgeFleetError('request_too_large', `request body exceeds the limit of ${maxBytes} bytes`));
    };
    // The listeners stay on a request that ended: no more data comes, and a late 'error' or 'close'
    // only settles a settled promise (removing four listeners per request costs more than keeping them).
    const onEnd = () => {
      resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks));
      chunks = []; // the listeners keep no body alive
    };
    const onError = (error: Error) => {
      cleanup();
      reject(error);
    };
    // A client that leaves mid-body: the request is aborted, never ends.
    const onClose = () => {
      if (request.complete) return;
      cleanup();
      reject(
        new EdgeFleetError(
          'invalid_request',
          'the client closed the connection before sending the whole body',
        ),
      );
    };
    const cleanup = () => {
      request.off('data', onData);
      request.off('end', onEnd);
      request.off('error', onError);
      request.off('close', onClose);
    };
    request.on('data', onData);
    request.on('end', onEnd);
    request.on('error', onError);
    request.on('close', onClose);
  });
}

/** Reads a request body (see readBody) and parses it as UTF-8 JSON. */
export async function readJsonBody(request: IncomingMessage, maxBytes: number): Promise<unknown> {
  return parseJsonBuffer(await readBody(request, maxBytes));
}

/**
 * How deeply a request body may nest arrays and objects. No OpenAI or management request comes near it,
 * and JSON.parse takes about half a microsecond a level: a 4 MB body of 2,000,000 brackets held the event
 * loop for a second, before any validation could refuse it.
 */
export const maxJsonDepth = 512;

/** Whether `raw` nests arrays and objects deeper than maxJsonDepth (brackets in strings do not count). */
export function nestsTooDeep(raw: Buffer): boolean {
  if (raw.length <= 2 * maxJsonDepth) return false;
  // Cheap first, with the native indexOf: a body with few brackets cannot nest deeply (most prompts).
  let openers = 0;
  for (const byte of [0x5b, 0x7b]) {
    for (let at = raw.indexOf(byte); at !== -1 && openers <= maxJsonDepth; at = raw.indexOf(byte, at + 1)) {
      openers += 1;
    }
  }
  if (openers <= maxJsonDepth) return false;
  let depth = 0;
  let inString = false;
  for (let i = 0; i < raw.length; i++) {
    const byte = raw[i];
    if (inString) {
      if (byte === 0x5c)
        i += 1; // the escaped character, a quote included
      else if (byte === 0x22) inString = false;
    } else if (byte === 0x22) inString = true;
    else if (byte === 0x5b || byte === 0x7b) {
      if (++depth > maxJsonDepth) return true;
    } else if (byte === 0x5d || byte === 0x7d) depth -= 1;
  }
  return false;
}

/**
 * Parses a body as UTF-8 JSON; bad UTF-8, an empty body, malformed JSON and nesting deeper than
 * maxJsonDepth are `invalid_json`.
 */
export function parseJsonBuffer(raw: Buffer): unknown {
  if (!isUtf8(raw)) throw new EdgeFleetError('invalid_json', 'request body is not valid UTF-8');
  if (nestsTooDeep(raw)) {
    throw new EdgeFleetError(
      'invalid_json',
      `request body nests arrays or objects deeper than ${maxJsonDepth} levels`,
    );
  }
  const decoded = raw.toString('utf8');
  // A UTF-8 byte order mark is allowed in front (as TextDecoder and fetch's `json()` drop it).
  const text = decoded.charCodeAt(0) === 0xfeff ? decoded.slice(1) : decoded;
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    if (text.trim() === '')
      throw new EdgeFleetError('invalid_json', 'request body is empty; send a JSON object');
    throw new EdgeFleetError(
      'invalid_json',
      `request body is not valid JSON: ${error instanceof Error ? error.message : ''}`,
    );
  }
}

/** Validates a parsed body against a zod schema; the first issue becomes a 400 naming the offending field. */
export function parseWith<S extends z.ZodType>(schema: S, value: unknown): z.infer<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const path = issue ? issue.path.join('.') : '';
  if (issue?.code === 'unrecognized_keys') {
    // Named with their place: `stream_options.foo`, `messages.0.tool_calls`.
    const names = issue.keys.slice(0, 10).map((key) => clipped(path === '' ? key : `${path}.${key}`, 100));
    const more = issue.keys.length > names.length ? ` and ${issue.keys.length - names.length} more` : '';
    throw new EdgeFleetError(
      'unsupported_parameter',
      `unsupported parameter(s): ${names.join(', ')}${more}`,
      {
        param: names[0] ?? null,
      },
    );
  }
  throw new EdgeFleetError('invalid_request', `${path || 'body'}: ${issue?.message ?? 'invalid value'}`, {
    param: path || null,
  });
}
