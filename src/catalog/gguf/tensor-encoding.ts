/**
 * Encoding of float rows into the ggml tensor types the writer supports (F32, F16, Q8_0), and the
 * matching decoders (used to check round trips). Q8_0 follows ggml's quantize_row_q8_0_ref: blocks of 32
 * values, each an f16 scale d = max|x| / 127 followed by 32 int8 values round(x / d).
 */

export type EncodableType = 'F32' | 'F16' | 'Q8_0';

export const Q8_0_BLOCK = 32;
const Q8_0_BLOCK_BYTES = 34;

const scratchF32 = new Float32Array(1);
const scratchU32 = new Uint32Array(scratchF32.buffer);

/** IEEE 754 half-precision bits of a number, rounded to nearest even (as the F16C instruction does). */
export function f32ToF16Bits(value: number): number {
  scratchF32[0] = value;
  const x = scratchU32[0] ?? 0;
  const sign = (x >>> 16) & 0x8000;
  const exponent = (x >>> 23) & 0xff;
  let mantissa = x & 0x7fffff;
  if (exponent === 0xff) return sign | 0x7c00 | (mantissa !== 0 ? 0x200 : 0);
  const e = exponent - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mantissa |= 0x800000;
    const shift = 14 - e;
    let half = mantissa >>> shift;
    const rest = mantissa & ((1 << shift) - 1);
    const halfway = 1 << (shift - 1);
    if (rest > halfway || (rest === halfway && (half & 1) === 1)) half++;
    return sign | half;
  }
  let half = (e << 10) | (mantissa >>> 13);
  const rest = mantissa & 0x1fff;
  // A carry out of the mantissa correctly bumps the exponent (up to infinity).
  if (rest > 0x1000 || (rest === 0x1000 && (half & 1) === 1)) half++;
  return sign | half;
}

/** The number a half-precision bit pattern stands for. */
export function f16BitsToF32(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >>> 10) & 0x1f;
  const mantissa = bits & 0x3ff;
  if (exponent === 0) return sign * mantissa * 2 ** -24;
  if (exponent === 0x1f) return mantissa === 0 ? sign * Infinity : NaN;
  return sign * (1 + mantissa / 1024) * 2 ** (exponent - 15);
}

/** Bytes one row of `length` values takes in `type`. */
export function encodedRowBytes(type: EncodableType, length: number): number {
  switch (type) {
    case 'F32':
      return length * 4;
    case 'F16':
      return length * 2;
    case 'Q8_0':
      if (length % Q8_0_BLOCK !== 0)
        throw new RangeError(`Q8_0 rows need a multiple of 32 values, got ${length}`);
      return (length / Q8_0_BLOCK) * Q8_0_BLOCK_BYTES;
  }
}

/** Encodes `row` into `out` at `offset`; returns the number of bytes written. */
export function encodeRow(type: EncodableType, row: Float32Array, out: Buffer, offset: number): number {
  const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
  switch (type) {
    case 'F32':
      return encodeF32(row, view, offset);
    case 'F16':
      return encodeF16(row, view, offset);
    case 'Q8_0':
      return encodeQ8_0(row, view, offset);
  }
}

function encodeF32(row: Float32Array, view: DataView, offset: number): number {
  for (let i = 0; i < row.length; i++) view.setFloat32(offset + i * 4, row[i] ?? 0, true);
  return row.length * 4;
}

function encodeF16(row: Float32Array, view: DataView, offset: number): number {
  for (let i = 0; i < row.length; i++) view.setUint16(offset + i * 2, f32ToF16Bits(row[i] ?? 0), true);
  return row.length * 2;
}

function encodeQ8_0(row: Float32Array, view: DataView, offset: number): number {
  let at = offset;
  for (let block = 0; block < row.length; block += Q8_0_BLOCK) {
    let amax = 0;
    for (let i = 0; i < Q8_0_BLOCK; i++) amax = Math.max(amax, Math.abs(row[block + i] ?? 0));
    const d = amax / 127;
    const id = d !== 0 ? 1 / d : 0;
    view.setUint16(at, f32ToF16Bits(d), true);
    for (let i = 0; i < Q8_0_BLOCK; i++) {
      const scaled = Math.fround((row[block + i] ?? 0) * id);
      let q = Math.round(scaled);
      // roundf rounds halves away from zero; Math.round rounds them up.
      if (q - scaled === 0.5 && scaled < 0) q -= 1;
      view.setInt8(at + 2 + i, q);
    }
    at += Q8_0_BLOCK_BYTES;
  }
  return at - offset;
}

/** Decodes `length` values of `type` from `bytes` at `offset` (the inverse of encodeRow, up to rounding). */
export function decodeRow(type: EncodableType, bytes: Buffer, offset: number, length: number): Float32Array {
  const row = new Float32Array(length);
  switch (type) {
    case 'F32':
      for (let i = 0; i < length; i++) row[i] = bytes.readFloatLE(offset + i * 4);
      break;
    case 'F16':
      for (let i = 0; i < length; i++) row[i] = f16BitsToF32(bytes.readUInt16LE(offset + i * 2));
      break;
    case 'Q8_0':
      for (let block = 0; block < length / Q8_0_BLOCK; block++) {
        const at = offset + block * Q8_0_BLOCK_BYTES;
        const d = f16BitsToF32(bytes.readUInt16LE(at));
        for (let i = 0; i < Q8_0_BLOCK; i++) row[block * Q8_0_BLOCK + i] = d * bytes.readInt8(at + 2 + i);
      }
      break;
  }
  return row;
}
