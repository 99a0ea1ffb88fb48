import { mkdtemp, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EdgeFleetError } from '../../spec/edgefleet-error.js';
import { parseGgufHeader, type GgufParseLimits } from './gguf-header-parser.js';
import { readGgufHeader } from './read-gguf-header.js';
import { writeGguf } from './write-gguf.js';

let dir: string;
let validPath: string;
let valid: Buffer;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'edgefleet-gguf-reader-'));
  validPath = join(dir, 'valid.gguf');
  await writeGguf(validPath, {
    metadata: [
      ['general.architecture', { type: 'string', value: 'llama' }],
      ['tokenizer.ggml.tokens', { type: 'array', itemType: 'string', value: ['a', 'b', 'c'] }],
      [
        'x.nested',
        { type: 'array', itemType: 'array', value: [{ type: 'array', itemType: 'i32', value: [1] }] },
      ],
    ],
    tensors: [
      { name: 'w', dims: [32, 2], type: 'Q8_0', fillRow: (r, out) => out.fill(r) },
      { name: 'n', dims: [3], type: 'F32', fillRow: (_, out) => out.fill(1) },
    ],
  });
  valid = await readFile(validPath);
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Builds GGUF bytes by hand, to write what no honest writer would. */
class Bytes {
  private parts: Buffer[] = [];
  u32(v: number): this {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(v);
    this.parts.push(b);
    return this;
  }
  u64(v: number | bigint): this {
    const b = Buffer.alloc(8);
    b.writeBigUInt64LE(BigInt(v));
    this.parts.push(b);
    return this;
  }
  str(s: string, length = Buffer.byteLength(s)): this {
    this.u64(length);
    this.parts.push(Buffer.from(s));
    return this;
  }
  raw(bytes: number[]): this {
    this.parts.push(Buffer.from(bytes));
    return this;
  }
  build(): Buffer {
    return Buffer.concat(this.parts);
  }
}

const ggufHead = (tensors: number | bigint, kvs: number | bigint, version = 3): Bytes =>
  new Bytes().u32(0x46554747).u32(version).u64(tensors).u64(kvs);

const limits = (limitBytes: number): GgufParseLimits => ({
  limitBytes,
  maxTensors: 65_536,
  maxMetadataEntries: 16_384,
  maxArrayItems: 8 * 1024 * 1024,
  maxArrayDepth: 3,
});

/** Writes `bytes` (plus 64 zero bytes, so that counts are judged, not the file's end) and expects a refusal. */
async function expectInvalid(bytes: Buffer, pattern: RegExp): Promise<void> {
  const path = join(dir, 'hostile.gguf');
  await writeFile(path, Buffer.concat([bytes, Buffer.alloc(64)]));
  const heapBefore = process.memoryUsage().heapUsed;
  const started = performance.now();
  const error = await readGgufHeader(path).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(performance.now() - started).toBeLessThan(500);
  expect(process.memoryUsage().heapUsed - heapBefore).toBeLessThan(64 * 1024 * 1024);
  expect(error).toBeInstanceOf(EdgeFleetError);
  expect((error as EdgeFleetError).code).toBe('invalid_model_file');
  expect((error as EdgeFleetError).message).toMatch(pattern);
}

describe('readGgufHeader', () => {
  it('reads a valid file', async () => {
    const header = await readGgufHeader(validPath);
    expect(header.metadata.get('tokenizer.ggml.tokens')).toEqual({
      type: 'array',
      itemType: 'string',
      value: ['a', 'b', 'c'],
    });
    expect(header.tensors.map((t) => t.name)).toEqual(['w', 'n']);
    expect(header.dataOffset + header.dataBytes).toBe(valid.length);
  });

  it('rejects bad magic and unsupported versions', async () => {
    await expectInvalid(Buffer.from('GGML\x03\x00\x00\x00'), /bad magic/);
    await expectInvalid(Buffer.from('hello, this is not a model at all'), /bad magic/);
    await expectInvalid(ggufHead(0, 0, 1).build(), /unsupported version 1/);
    await expectInvalid(ggufHead(0, 0, 4).build(), /unsupported version 4/);
    await expectInvalid(ggufHead(0, 0, 0x03000000).build(), /big-endian/);
  });

  it('rejects huge counts and lengths before allocating anything', async () => {
    await expectInvalid(ggufHead(2n ** 40n, 0).build(), /tensor count 1099511627776 exceeds/);
    await expectInvalid(ggufHead(60_000, 0).build(), /tensor count 60000 cannot fit/);
    await expectInvalid(ggufHead(0, 2n ** 62n).build(), /metadata count .* out of range/);
    await expectInvalid(
      ggufHead(0, 1)
        .str('k', 2 ** 40)
        .build(),
      /key length 1099511627776 exceeds/,
    );
    await expectInvalid(
      ggufHead(0, 1)
        .u64(2n ** 63n)
        .build(),
      /out of range/,
    );
    const array = (itemType: number, n: bigint): Buffer =>
      ggufHead(0, 1).str('a').u32(9).u32(itemType).u64(n).build();
    await expectInvalid(array(8, 2n ** 32n), /array length 4294967296 exceeds/);
    await expectInvalid(array(8, 5_000_000n), /array length 5000000 cannot fit/);
    await expectInvalid(array(0, 1_000_000n), /array length 1000000 cannot fit/);
    await expectInvalid(
      ggufHead(0, 1)
        .str('s')
        .u32(8)
        .u64(2 ** 50)
        .build(),
      /string length 1125899906842624 exceeds/,
    );
    const deep = ggufHead(0, 1).str('d').u32(9);
    for (let i = 0; i < 5; i++) deep.u32(9).u64(1);
    await expectInvalid(deep.u32(0).u64(0).build(), /nested deeper/);
  });

  it('rejects malformed entries: unknown types, duplicates, bad tensor infos, data past the end', async () => {
    await expectInvalid(ggufHead(0, 1).str('k').u32(99).build(), /unknown metadata value type 99/);
    await expectInvalid(
      ggufHead(0, 2).str('k').u32(4).u32(1).str('k').u32(4).u32(1).build(),
      /duplicate metadata/,
    );
    await expectInvalid(ggufHead(0, 1).str('').u32(4).u32(1).build(), /empty/);
    await expectInvalid(ggufHead(0, 1).str('general.alignment').u32(4).u32(48).build(), /power of two/);
    await expectInvalid(ggufHead(0, 1).str('general.alignment').u32(10).u64(32).build(), /must be a u32/);
    const tensor = (name: string, dims: number[], type: number, offset: number): Bytes => {
      const b = ggufHead(1, 0).str(name).u32(dims.length);
      for (const d of dims) b.u64(d);
      return b.u32(type).u64(offset);
    };
    const pad = (b: Bytes): Buffer => b.raw(new Array<number>(256).fill(0)).build();
    expect((await readGgufHeader(await writeTemp(pad(tensor('t', [4], 0, 0))))).tensors[0]?.byteSize).toBe(
      16,
    );
    await expectInvalid(pad(tensor('t', [4], 99, 0)), /unknown ggml type 99/);
    await expectInvalid(pad(tensor('t', [1, 1, 1, 1, 1], 0, 0)), /5 dimensions/);
    await expectInvalid(pad(tensor('t', [33], 8, 0)), /not a multiple of Q8_0/);
    await expectInvalid(pad(tensor('t', [4], 0, 32)), /offset 32, expected 0/);
    await expectInvalid(pad(tensor('x'.repeat(64), [4], 0, 0)), /too long/);
    await expectInvalid(pad(tensor('t', [2 ** 20, 2 ** 20], 0, 0)), /tensor data ends at/);
    await expectInvalid(pad(tensor('t', [2 ** 27, 2 ** 27], 0, 0)), /too many elements/);
    const twice = ggufHead(2, 0).str('t').u32(1).u64(4).u32(0).u64(0).str('t').u32(1).u64(4).u32(0).u64(32);
    await expectInvalid(pad(twice), /duplicate tensor name/);
  });

  it('rejects every truncation of a valid file', async () => {
    const header = await readGgufHeader(validPath);
    const last = header.tensors.at(-1)!;
    const dataEnd = header.dataOffset + last.offset + last.byteSize;
    for (let length = 0; length < dataEnd; length++) {
      const prefix = valid.subarray(0, length);
      let error: unknown;
      try {
        parseGgufHeader(prefix, limits(length), length);
      } catch (e) {
        error = e;
      }
      expect(error, `prefix of ${length} bytes`).toBeInstanceOf(EdgeFleetError);
      expect((error as EdgeFleetError).code).toBe('invalid_model_file');
    }
    const path = join(dir, 'truncated.gguf');
    await writeFile(path, valid);
    await truncate(path, dataEnd - 1);
    await expect(readGgufHeader(path)).rejects.toThrow(/truncated/);
  });

  it('stays within maxBytes and reports a header larger than allowed', async () => {
    await expect(readGgufHeader(validPath, { maxBytes: 64 })).rejects.toThrow(/64-byte (header )?limit/);
    await expect(readGgufHeader(validPath, { maxBytes: 4 })).rejects.toThrow(/maxBytes/);
  });

  it('survives random corruption: either a header or invalid_model_file, nothing else', () => {
    let seed = 12345;
    const random = (): number => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32;
    for (let i = 0; i < 3000; i++) {
      const bytes = Buffer.from(valid);
      for (let flips = 1 + Math.floor(random() * 4); flips > 0; flips--) {
        bytes[Math.floor(random() * 200)] = Math.floor(random() * 256);
      }
      try {
        parseGgufHeader(bytes, limits(bytes.length), bytes.length);
      } catch (error) {
        expect(error).toBeInstanceOf(EdgeFleetError);
        expect((error as EdgeFleetError).code).toBe('invalid_model_file');
      }
    }
  });

  it('reports a missing file as not_found and a directory as invalid', async () => {
    await expect(readGgufHeader(join(dir, 'missing.gguf'))).rejects.toMatchObject({ code: 'not_found' });
    await expect(readGgufHeader(dir)).rejects.toMatchObject({ code: 'invalid_model_file' });
  });
});

async function writeTemp(bytes: Buffer): Promise<string> {
  const path = join(dir, 'temp.gguf');
  await writeFile(path, bytes);
  return path;
}
