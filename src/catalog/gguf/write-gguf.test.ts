import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EdgeFleetError } from '../../spec/edgefleet-error.js';
import type { GgufValue } from './gguf-types.js';
import { readGgufHeader } from './read-gguf-header.js';
import { decodeRow, encodeRow, f16BitsToF32, f32ToF16Bits } from './tensor-encoding.js';
import { writeGguf } from './write-gguf.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'edgefleet-gguf-writer-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const everyType: [string, GgufValue][] = [
  ['t.u8', { type: 'u8', value: 255 }],
  ['t.i8', { type: 'i8', value: -128 }],
  ['t.u16', { type: 'u16', value: 65535 }],
  ['t.i16', { type: 'i16', value: -32768 }],
  ['t.u32', { type: 'u32', value: 4294967295 }],
  ['t.i32', { type: 'i32', value: -2147483648 }],
  ['t.f32', { type: 'f32', value: 0.5 }],
  ['t.f64', { type: 'f64', value: Math.PI }],
  ['t.u64', { type: 'u64', value: 18446744073709551615n }],
  ['t.i64', { type: 'i64', value: -9223372036854775808n }],
  ['t.bool', { type: 'bool', value: true }],
  ['t.string', { type: 'string', value: 'héllo <｜User｜> ▁世界 \n' }],
  ['t.empty', { type: 'string', value: '' }],
  ['t.strings', { type: 'array', itemType: 'string', value: ['a', '', 'Ġb', '<0x0A>'] }],
  ['t.i32s', { type: 'array', itemType: 'i32', value: [1, -2, 3] }],
  ['t.f32s', { type: 'array', itemType: 'f32', value: [0.25, -1.5] }],
  ['t.bools', { type: 'array', itemType: 'bool', value: [true, false] }],
  ['t.u64s', { type: 'array', itemType: 'u64', value: [0n, 2n ** 40n] }],
  ['t.none', { type: 'array', itemType: 'u8', value: [] }],
  [
    't.nested',
    {
      type: 'array',
      itemType: 'array',
      value: [
        { type: 'array', itemType: 'u16', value: [1, 2] },
        { type: 'array', itemType: 'string', value: ['x'] },
      ],
    },
  ],
];

describe('writeGguf + readGgufHeader', () => {
  it('round-trips metadata of every GGUF type and tensor infos with their data', async () => {
    const path = join(dir, 'round-trip.gguf');
    const values = (row: number, out: Float32Array): void => {
      for (let i = 0; i < out.length; i++) out[i] = Math.sin(row * 31 + i) * (row + 1);
    };
    const q40 = new Uint8Array(18 * 2).fill(7);
    const bytes = await writeGguf(path, {
      metadata: everyType,
      alignment: 64,
      tensors: [
        { name: 'a.f32', dims: [5, 3], type: 'F32', fillRow: values },
        { name: 'b.f16', dims: [7], type: 'F16', fillRow: values },
        { name: 'c.q8_0', dims: [64, 2, 2], type: 'Q8_0', fillRow: values },
        { name: 'd.q4_0', dims: [32, 2], type: 'Q4_0', data: q40 },
      ],
    });
    const file = await readFile(path);
    expect(file.length).toBe(bytes);

    const header = await readGgufHeader(path);
    expect(header.version).toBe(3);
    expect(header.alignment).toBe(64);
    expect(header.dataOffset % 64).toBe(0);
    expect([...header.metadata.entries()]).toEqual([
      ...everyType,
      ['general.alignment', { type: 'u32', value: 64 }],
    ]);
    expect(header.tensors.map((t) => [t.name, t.dims, t.type.name, t.offset, t.byteSize])).toEqual([
      ['a.f32', [5, 3], 'F32', 0, 60],
      ['b.f16', [7], 'F16', 64, 14],
      ['c.q8_0', [64, 2, 2], 'Q8_0', 128, 4 * 2 * 34],
      ['d.q4_0', [32, 2], 'Q4_0', 448, 36],
    ]);
    const [a, b, c, d] = header.tensors;
    const expectRow = (row: number, length: number): Float32Array => {
      const out = new Float32Array(length);
      values(row, out);
      return out;
    };
    for (let r = 0; r < 3; r++) {
      expect(decodeRow('F32', file, header.dataOffset + a!.offset + r * 20, 5)).toEqual(expectRow(r, 5));
    }
    const f16 = decodeRow('F16', file, header.dataOffset + b!.offset, 7);
    expectRow(0, 7).forEach((v, i) => expect(f16[i]).toBeCloseTo(v, 3));
    for (let r = 0; r < 4; r++) {
      const q8 = decodeRow('Q8_0', file, header.dataOffset + c!.offset + r * 68, 64);
      expectRow(r, 64).forEach((v, i) =>
        expect(Math.abs((q8[i] ?? 0) - v)).toBeLessThan(((r + 1) / 127) * 0.6),
      );
    }
    expect([...file.subarray(header.dataOffset + d!.offset, header.dataOffset + d!.offset + 36)]).toEqual([
      ...q40,
    ]);
  });

  it('refuses what llama.cpp would reject: bad dims, partial Q8_0 blocks, long or duplicate names', async () => {
    const path = join(dir, 'bad.gguf');
    const fillRow = (): void => undefined;
    const attempts = [
      { name: 'x', dims: [33], type: 'Q8_0' as const, fillRow },
      { name: 'x', dims: [0, 4], type: 'F32' as const, fillRow },
      { name: 'x', dims: [1, 1, 1, 1, 1], type: 'F32' as const, fillRow },
      { name: 'n'.repeat(64), dims: [4], type: 'F32' as const, fillRow },
    ];
    for (const tensor of attempts) {
      await expect(writeGguf(path, { metadata: [], tensors: [tensor] })).rejects.toBeInstanceOf(
        EdgeFleetError,
      );
    }
    await expect(
      writeGguf(path, {
        metadata: [],
        tensors: [
          { name: 'x', dims: [4], type: 'F32', fillRow },
          { name: 'x', dims: [4], type: 'F32', fillRow },
        ],
      }),
    ).rejects.toThrow(/duplicate tensor name/);
  });
});

describe('tensor encoding', () => {
  it('converts to half precision with round-to-nearest-even, subnormals and overflow', () => {
    expect(f32ToF16Bits(1)).toBe(0x3c00);
    expect(f32ToF16Bits(-2)).toBe(0xc000);
    expect(f32ToF16Bits(65504)).toBe(0x7bff);
    expect(f32ToF16Bits(65520)).toBe(0x7c00); // rounds up to infinity
    expect(f32ToF16Bits(2 ** -24)).toBe(0x0001); // smallest subnormal
    expect(f32ToF16Bits(2 ** -26)).toBe(0x0000);
    expect(f32ToF16Bits(1 + 2 ** -11)).toBe(0x3c00); // tie → even
    expect(f32ToF16Bits(1 + 3 * 2 ** -11)).toBe(0x3c02); // tie → even (up)
    expect(Number.isNaN(f16BitsToF32(f32ToF16Bits(NaN)))).toBe(true);
    // Every value's conversion is the nearest half (checked against a brute-force search).
    const halves = Array.from({ length: 0x7c00 }, (_, bits) => f16BitsToF32(bits));
    for (let i = 0; i < 500; i++) {
      const x = Math.fround((Math.random() - 0.5) * 2 ** (Math.random() * 40 - 24));
      const error = Math.abs(Math.abs(f16BitsToF32(f32ToF16Bits(x))) - Math.abs(x));
      let best = Infinity;
      for (const h of halves) best = Math.min(best, Math.abs(h - Math.abs(x)));
      expect(error).toBeLessThanOrEqual(best);
    }
  });

  it('quantizes Q8_0 blocks like ggml: scale max|x|/127, halves rounded away from zero', () => {
    const row = new Float32Array(32);
    row[0] = 127;
    row[1] = -2.5;
    row[2] = 2.5;
    row[3] = -127;
    const out = Buffer.alloc(34);
    expect(encodeRow('Q8_0', row, out, 0)).toBe(34);
    expect(f16BitsToF32(out.readUInt16LE(0))).toBe(1);
    expect([out.readInt8(2), out.readInt8(3), out.readInt8(4), out.readInt8(5), out.readInt8(6)]).toEqual([
      127, -3, 3, -127, 0,
    ]);
  });
});
