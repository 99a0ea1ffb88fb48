import { open } from 'node:fs/promises';
import { EdgeFleetError } from '../../spec/edgefleet-error.js';

/** Bytes needed to recognise a GGUF file: the magic `GGUF` and a little-endian uint32 version. */
export const GGUF_PREFIX_BYTES = 8;
const SUPPORTED_VERSIONS = new Set([2, 3]);

function describe(prefix: Buffer): string {
  const text = prefix.toString('latin1').trimStart().toLowerCase();
  if (text.startsWith('<')) return 'an HTML/XML page';
  if (text.startsWith('{') || text.startsWith('[')) return 'a JSON document';
  if (prefix.subarray(0, 2).toString('latin1') === 'PK') return 'a zip archive';
  if (prefix[0] === 0x1f && prefix[1] === 0x8b) return 'a gzip archive';
  return `bytes 0x${prefix.subarray(0, 4).toString('hex')}`;
}

/**
 * Checks that `prefix` (the first 8 bytes of a file, or all of it when shorter) starts a GGUF v2/v3 file.
 * Throws `invalid_model_file` naming what the content looks like instead.
 */
export function assertGgufPrefix(prefix: Buffer, source: string): void {
  if (prefix.length < GGUF_PREFIX_BYTES) {
    throw new EdgeFleetError(
      'invalid_model_file',
      `${source} is not a GGUF model file: only ${prefix.length} bytes long`,
      { data: { source } },
    );
  }
  if (prefix.subarray(0, 4).toString('latin1') !== 'GGUF') {
    throw new EdgeFleetError(
      'invalid_model_file',
      `${source} is not a GGUF model file (it looks like ${describe(prefix)}); only .gguf models are supported`,
      { data: { source } },
    );
  }
  const version = prefix.readUInt32LE(4);
  if (!SUPPORTED_VERSIONS.has(version)) {
    throw new EdgeFleetError(
      'invalid_model_file',
      `${source} is GGUF version ${version}; only versions 2 and 3 are supported`,
      { data: { source, version } },
    );
  }
}

/** Reads a file's first bytes and checks they start a GGUF v2/v3 file. */
export async function assertGgufFile(path: string): Promise<void> {
  const handle = await open(path, 'r');
  try {
    const prefix = Buffer.alloc(GGUF_PREFIX_BYTES);
    const { bytesRead } = await handle.read(prefix, 0, GGUF_PREFIX_BYTES, 0);
    assertGgufPrefix(prefix.subarray(0, bytesRead), path);
  } finally {
    await handle.close();
  }
}
