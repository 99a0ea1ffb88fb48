import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  NeedMoreBytes,
  parseGgufHeader,
  type GgufHeader,
  type GgufParseLimits,
} from '../../src/catalog/gguf/gguf-header-parser.js';
import { readGgufHeader } from '../../src/catalog/gguf/read-gguf-header.js';
import { writeGguf } from '../../src/catalog/gguf/write-gguf.js';
import { EdgeFleetError } from '../../src/spec/edgefleet-error.js';

/**
 * Property tests for the GGUF header reader: a model file is hostile input. Truncated or corrupted
 * headers must be refused with EdgeFleetError('invalid_model_file'), quickly, and without allocating
 * what a corrupted count or length declares.
 */

/** One parse must not take longer than this (a declared huge allocation would blow it). */
const MAX_CALL_MS = 1_000;
/** How much the process may grow across all the runs of one property. */
const MAX_RSS_GROWTH = 64 * 1024 * 1024;

let dir: string;
/** A small file with every metadata value type, nested arrays and a few tensors. */
let small: Buffer;
let smallHeader: GgufHeader;
/** A file whose header is larger than the reader's first 256 KiB window. */
let large: Buffer;
let largeHeader: GgufHeader;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'edgefleet-gguf-props-'));
  await writeGguf(join(dir, 'small.gguf'), {
    metadata: [
      ['general.architecture', { type: 'string', value: 'llama' }],
      ['general.name', { type: 'string', value: 'héllo 模型 🦙' }],
      ['x.u8', { type: 'u8', value: 7 }],
      ['x.i8', { type: 'i8', value: -7 }],
      ['x.u16', { type: 'u16', value: 700 }],
      ['x.i16', { type: 'i16', value: -700 }],
      ['x.i32', { type: 'i32', value: -70_000 }],
      ['x.f32', { type: 'f32', value: 0.5 }],
      ['x.f64', { type: 'f64', value: 0.25 }],
      ['x.u64', { type: 'u64', value: 1n << 40n }],
      ['x.i64', { type: 'i64', value: -(1n << 40n) }],
      ['x.bool', { type: 'bool', value: true }],
      ['tokenizer.ggml.tokens', { type: 'array', itemType: 'string', value: ['a', 'bb', 'ccc', '🦙'] }],
      ['tokenizer.ggml.scores', { type: 'array', itemType: 'f32', value: [0, -1, -2, -3] }],
      [
        'x.nested',
        {
          type: 'array',
          itemType: 'array',
          value: [
            { type: 'array', itemType: 'i32', value: [1, 2] },
            { type: 'array', itemType: 'string', value: ['z'] },
          ],
        },
      ],
    ],
    tensors: [
      { name: 'w', dims: [32, 2], type: 'Q8_0', fillRow: (r, out) => out.fill(r) },
      { name: 'h', dims: [4, 2], type: 'F16', fillRow: (r, out) => out.fill(r) },
      { name: 'n', dims: [3], type: 'F32', fillRow: (_, out) => out.fill(1) },
    ],
    // Written as general.alignment, so the parser's alignment handling is exercised too.
    alignment: 64,
  });
  small = await readFile(join(dir, 'small.gguf'));
  smallHeader = parse(small);

  const tokens = Array.from({ length: 24_000 }, (_, i) => `token-${i}-▁piece`);
  await writeGguf(join(dir, 'large.gguf'), {
    metadata: [
      ['general.architecture', { type: 'string', value: 'llama' }],
      ['tokenizer.ggml.tokens', { type: 'array', itemType: 'string', value: tokens }],
      ['tokenizer.ggml.token_type', { type: 'array', itemType: 'i32', value: tokens.map(() => 1) }],
    ],
    tensors: [{ name: 'n', dims: [8], type: 'F32', fillRow: (_, out) => out.fill(1) }],
  });
  large = await readFile(join(dir, 'large.gguf'));
  largeHeader = parse(large);
  expect(largeHeader.dataOffset).toBeGreaterThan(256 * 1024);
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** The limits readGgufHeader uses for a whole file of `bytes` (the default 64 MiB cap is larger). */
const limitsFor = (bytes: Buffer): GgufParseLimits => ({
  limitBytes: bytes.length,
  maxTensors: 65_536,
  maxMetadataEntries: 16_384,
  maxArrayItems: 8 * 1024 * 1024,
  maxArrayDepth: 3,
});

/** Where the last tensor's data ends: the file may stop there, without the final padding. */
function dataEnd(header: GgufHeader): number {
  const last = header.tensors.at(-1);
  return last === undefined ? header.dataOffset : header.dataOffset + last.offset + last.byteSize;
}

function parse(bytes: Buffer): GgufHeader {
  return parseGgufHeader(bytes, limitsFor(bytes), bytes.length);
}

/** Runs `call`, and expects a header or EdgeFleetError('invalid_model_file'), within MAX_CALL_MS. */
function expectRefusedOrParsed(call: () => GgufHeader): GgufHeader | EdgeFleetError {
  const started = performance.now();
  let outcome: GgufHeader | EdgeFleetError;
  try {
    outcome = call();
  } catch (error) {
    if (!(error instanceof EdgeFleetError)) throw error;
    expect(error.code).toBe('invalid_model_file');
    outcome = error;
  }
  expect(performance.now() - started).toBeLessThan(MAX_CALL_MS);
  return outcome;
}

async function expectRefusedOrParsedAsync(
  call: () => Promise<GgufHeader>,
): Promise<GgufHeader | EdgeFleetError> {
  const started = performance.now();
  let outcome: GgufHeader | EdgeFleetError;
  try {
    outcome = await call();
  } catch (error) {
    if (!(error instanceof EdgeFleetError)) throw error;
    expect(error.code).toBe('invalid_model_file');
    outcome = error;
  }
  expect(performance.now() - started).toBeLessThan(MAX_CALL_MS);
  return outcome;
}

/** A corruption of a header: flipped bytes, and u64 fields overwritten with huge or random values. */
const corruption = (headerBytes: number) =>
  fc.array(
    fc.oneof(
      fc.record({
        kind: fc.constant('byte' as const),
        at: fc.nat({ max: headerBytes - 1 }),
        value: fc.integer({ min: 0, max: 255 }),
      }),
      fc.record({
        kind: fc.constant('u64' as const),
        at: fc.nat({ max: headerBytes - 1 }),
        value: fc.oneof(
          fc.constantFrom(
            0xffff_ffff_ffff_ffffn,
            0x001f_ffff_ffff_ffffn,
            0x0000_0000_ffff_ffffn,
            0x0000_0000_7fff_ffffn,
            1n << 53n,
            8n * 1024n * 1024n,
            64n * 1024n * 1024n,
          ),
          fc.bigInt({ min: 0n, max: 0xffff_ffff_ffff_ffffn }),
        ),
      }),
    ),
    { minLength: 1, maxLength: 6 },
  );

function corrupt(
  original: Buffer,
  edits: { kind: 'byte' | 'u64'; at: number; value: number | bigint }[],
): Buffer {
  const bytes = Buffer.from(original);
  for (const edit of edits) {
    if (edit.kind === 'byte') bytes[edit.at] = Number(edit.value);
    else if (edit.at + 8 <= bytes.length) bytes.writeBigUInt64LE(BigInt(edit.value), edit.at);
  }
  return bytes;
}

describe('GGUF header reader (properties)', () => {
  it('refuses every truncation of a valid file with invalid_model_file', () => {
    const rssBefore = process.memoryUsage().rss;
    for (let length = 0; length < small.length; length++) {
      const outcome = expectRefusedOrParsed(() => parse(small.subarray(0, length)));
      // Only the padding after the last tensor's data may be cut off.
      if (length < dataEnd(smallHeader)) expect(outcome).toBeInstanceOf(EdgeFleetError);
      else expect(outcome).not.toBeInstanceOf(EdgeFleetError);
    }
    expect(parse(small).dataOffset).toBe(smallHeader.dataOffset);
    expect(process.memoryUsage().rss - rssBefore).toBeLessThan(MAX_RSS_GROWTH);
  });

  it('reads a truncated file from disk as invalid_model_file (the large header crosses the first window)', async () => {
    const path = join(dir, 'truncated.gguf');
    const rssBefore = process.memoryUsage().rss;
    await fc.assert(
      fc.asyncProperty(fc.boolean(), fc.double({ min: 0, max: 1, noNaN: true }), async (useLarge, f) => {
        const file = useLarge ? large : small;
        const header = useLarge ? largeHeader : smallHeader;
        const length = Math.min(dataEnd(header) - 1, Math.floor(f * file.length));
        await writeFile(path, file.subarray(0, length));
        const outcome = await expectRefusedOrParsedAsync(() => readGgufHeader(path));
        expect(outcome).toBeInstanceOf(EdgeFleetError);
      }),
      { numRuns: 40 },
    );
    expect(process.memoryUsage().rss - rssBefore).toBeLessThan(MAX_RSS_GROWTH);
  });

  it('never throws anything but invalid_model_file, nor allocates a declared size, when header bytes are corrupted', () => {
    const rssBefore = process.memoryUsage().rss;
    fc.assert(
      fc.property(corruption(smallHeader.dataOffset), (edits) => {
        const bytes = corrupt(small, edits);
        const outcome = expectRefusedOrParsed(() => parse(bytes));
        if (!(outcome instanceof EdgeFleetError)) {
          // Whatever it accepted is self-consistent with the file.
          expect(outcome.dataOffset).toBeLessThanOrEqual(bytes.length);
          expect(outcome.fileBytes).toBe(bytes.length);
        }
      }),
      { numRuns: 3_000 },
    );
    expect(process.memoryUsage().rss - rssBefore).toBeLessThan(MAX_RSS_GROWTH);
  });

  it('asks for more bytes only within the limit, when given a prefix of a corrupted header', () => {
    const rssBefore = process.memoryUsage().rss;
    fc.assert(
      fc.property(
        corruption(smallHeader.dataOffset),
        fc.nat({ max: 4096 }),
        fc.nat({ max: 1 << 20 }),
        (edits, prefix, extraLimit) => {
          const bytes = corrupt(small, edits);
          const window = bytes.subarray(0, Math.min(prefix, bytes.length));
          const limits = { ...limitsFor(bytes), limitBytes: window.length + extraLimit };
          const fileSize = limits.limitBytes + 1024;
          const started = performance.now();
          try {
            parseGgufHeader(window, limits, fileSize);
          } catch (error) {
            if (error instanceof NeedMoreBytes) {
              expect(error.neededBytes).toBeGreaterThan(window.length);
              expect(error.neededBytes).toBeLessThanOrEqual(limits.limitBytes);
            } else {
              expect(error).toBeInstanceOf(EdgeFleetError);
              expect((error as EdgeFleetError).code).toBe('invalid_model_file');
            }
          }
          expect(performance.now() - started).toBeLessThan(MAX_CALL_MS);
        },
      ),
      { numRuns: 2_000 },
    );
    expect(process.memoryUsage().rss - rssBefore).toBeLessThan(MAX_RSS_GROWTH);
  });

  it('reads a corrupted file from disk as a header or invalid_model_file, whatever maxBytes is', async () => {
    const path = join(dir, 'corrupted.gguf');
    const rssBefore = process.memoryUsage().rss;
    await fc.assert(
      fc.asyncProperty(
        fc.boolean(),
        corruption(smallHeader.dataOffset),
        fc.integer({ min: 32, max: 4 * 1024 * 1024 }),
        async (useLarge, edits, maxBytes) => {
          const file = useLarge ? large : small;
          // The corruption offsets were drawn for the small header; the large one starts the same way.
          await writeFile(path, corrupt(file, edits));
          await expectRefusedOrParsedAsync(() => readGgufHeader(path, { maxBytes }));
        },
      ),
      { numRuns: 40 },
    );
    expect(process.memoryUsage().rss - rssBefore).toBeLessThan(MAX_RSS_GROWTH);
  });
});
