import { open } from 'node:fs/promises';
import { EdgeFleetError } from '../../spec/edgefleet-error.js';
import {
  NeedMoreBytes,
  parseGgufHeader,
  type GgufHeader,
  type GgufParseLimits,
} from './gguf-header-parser.js';

export type { GgufHeader } from './gguf-header-parser.js';

export interface ReadGgufHeaderOptions {
  /** Most bytes read from the file as header (default 64 MiB; a 256k-token vocabulary needs ~10 MiB). */
  maxBytes?: number;
  /** Most tensors accepted (default 65,536; DeepSeek-V3 has under 2,000). */
  maxTensors?: number;
  /** Most metadata entries accepted (default 16,384). */
  maxMetadataEntries?: number;
  /** Most array items across all metadata arrays (default 8 Mi). */
  maxArrayItems?: number;
}

const DEFAULT_MAX_BYTES = 64 * 1024 * 1024;
const FIRST_READ_BYTES = 256 * 1024;

/**
 * Reads the header of a GGUF file (metadata and tensor infos, never the tensor data) with bounded reads.
 * It reads a first window, and when the header continues past it, reads a window four times as large, up to
 * `maxBytes`. A truncated or hostile file (bad magic or version, counts or lengths that cannot fit, tensor
 * data past the end of the file) throws EdgeFleetError('invalid_model_file') without allocating more than
 * the limits allow.
 */
export async function readGgufHeader(path: string, options: ReadGgufHeaderOptions = {}): Promise<GgufHeader> {
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_BYTES;
  if (!Number.isSafeInteger(maxBytes) || maxBytes < 32) {
    throw new EdgeFleetError('invalid_argument', `maxBytes must be an integer ≥ 32, got ${maxBytes}`);
  }
  let handle;
  try {
    handle = await open(path, 'r');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new EdgeFleetError(
      code === 'ENOENT' ? 'not_found' : 'invalid_model_file',
      `cannot open model file ${path}: ${(error as Error).message}`,
      { data: { path }, cause: error },
    );
  }
  try {
    const stat = await handle.stat();
    if (!stat.isFile()) throw new EdgeFleetError('invalid_model_file', `${path} is not a regular file`);
    const fileSizeBytes = stat.size;
    const limits: GgufParseLimits = {
      limitBytes: Math.min(fileSizeBytes, maxBytes),
      maxTensors: options.maxTensors ?? 65_536,
      maxMetadataEntries: options.maxMetadataEntries ?? 16_384,
      maxArrayItems: options.maxArrayItems ?? 8 * 1024 * 1024,
      maxArrayDepth: 3,
    };
    let windowBytes = Math.min(FIRST_READ_BYTES, limits.limitBytes);
    for (;;) {
      const buffer = Buffer.allocUnsafe(windowBytes);
      const { bytesRead } = await handle.read(buffer, 0, windowBytes, 0);
      const bytes = buffer.subarray(0, bytesRead);
      try {
        return parseGgufHeader(bytes, limits, fileSizeBytes);
      } catch (error) {
        if (!(error instanceof NeedMoreBytes)) throw error;
        if (bytesRead < windowBytes) {
          // The file shrank while it was read.
          throw new EdgeFleetError('invalid_model_file', `invalid GGUF file: ${path} is truncated`);
        }
        windowBytes = Math.min(limits.limitBytes, Math.max(windowBytes * 4, error.neededBytes));
      }
    }
  } catch (error) {
    if (error instanceof EdgeFleetError && error.code === 'invalid_model_file') {
      throw new EdgeFleetError('invalid_model_file', `${error.message} (${path})`, {
        data: { ...error.data, path },
        cause: error.cause,
      });
    }
    throw error;
  } finally {
    await handle.close();
  }
}
