import { randomBytes } from 'node:crypto';
import { open, rename, rm } from 'node:fs/promises';
import { EdgeFleetError } from '../../spec/edgefleet-error.js';
import {
  alignUp,
  GGUF_DEFAULT_ALIGNMENT,
  GGUF_MAGIC,
  GGUF_MAX_DIMS,
  GGUF_MAX_TENSOR_NAME_BYTES,
  ggmlTypeByName,
  ggufFixedSize,
  ggufValueTypeIds,
  tensorByteSize,
  type GgufArray,
  type GgufValue,
  type GgufValueType,
} from './gguf-types.js';
import { encodedRowBytes, encodeRow, type EncodableType } from './tensor-encoding.js';

/** A tensor to write: either rows produced on demand (F32/F16/Q8_0) or ready-made bytes of any ggml type. */
export type GgufTensorSpec =
  | {
      name: string;
      /** ggml order: dims[0] is the row length. */
      dims: number[];
      type: EncodableType;
      /** Fills `out` (length dims[0]) with row `rowIndex`; rows are requested in order, `out` is reused. */
      fillRow: (rowIndex: number, out: Float32Array) => void;
    }
  | { name: string; dims: number[]; type: string; data: Uint8Array };

export interface GgufWriteInput {
  metadata: Iterable<readonly [string, GgufValue]>;
  tensors: readonly GgufTensorSpec[];
  /** Data alignment (default 32); written as general.alignment when different. */
  alignment?: number;
}

const CHUNK_BYTES = 4 * 1024 * 1024;

class ByteSink {
  private readonly parts: Buffer[] = [];
  u32(v: number): void {
    const b = Buffer.allocUnsafe(4);
    b.writeUInt32LE(v);
    this.parts.push(b);
  }
  u64(v: number | bigint): void {
    const b = Buffer.allocUnsafe(8);
    b.writeBigUInt64LE(BigInt(v));
    this.parts.push(b);
  }
  string(s: string): void {
    const bytes = Buffer.from(s, 'utf8');
    this.u64(bytes.length);
    this.parts.push(bytes);
  }
  fixed(type: Exclude<GgufValueType, 'string' | 'array'>, v: number | bigint | boolean): void {
    const b = Buffer.allocUnsafe(ggufFixedSize[type]);
    const n = Number(v);
    switch (type) {
      case 'u8':
        b.writeUInt8(n);
        break;
      case 'i8':
        b.writeInt8(n);
        break;
      case 'u16':
        b.writeUInt16LE(n);
        break;
      case 'i16':
        b.writeInt16LE(n);
        break;
      case 'u32':
        b.writeUInt32LE(n);
        break;
      case 'i32':
        b.writeInt32LE(n);
        break;
      case 'f32':
        b.writeFloatLE(n);
        break;
      case 'f64':
        b.writeDoubleLE(n);
        break;
      case 'u64':
        b.writeBigUInt64LE(BigInt(v));
        break;
      case 'i64':
        b.writeBigInt64LE(BigInt(v));
        break;
      case 'bool':
        b.writeUInt8(v ? 1 : 0);
        break;
    }
    this.parts.push(b);
  }
  array(a: GgufArray): void {
    this.u32(ggufValueTypeIds[a.itemType]);
    this.u64(a.value.length);
    for (const item of a.value) {
      if (a.itemType === 'array') this.array(item as GgufArray);
      else if (a.itemType === 'string') this.string(item as string);
      else this.fixed(a.itemType, item as number | bigint | boolean);
    }
  }
  value(v: GgufValue): void {
    this.u32(ggufValueTypeIds[v.type]);
    if (v.type === 'array') this.array(v);
    else if (v.type === 'string') this.string(v.value);
    else this.fixed(v.type, v.value);
  }
  toBuffer(): Buffer {
    return Buffer.concat(this.parts);
  }
}

function invalidArgument(message: string): EdgeFleetError {
  return new EdgeFleetError('invalid_argument', `cannot write GGUF: ${message}`);
}

/**
 * Writes a GGUF v3 file: header (metadata, tensor infos), then each tensor's data padded to the alignment,
 * exactly as llama.cpp expects. Rows are encoded into a 4 MiB buffer and flushed as it fills, so a 400 MB
 * model never sits in memory. The file appears under `path` only once complete (written aside, renamed).
 * Returns the file's size in bytes.
 */
export async function writeGguf(path: string, input: GgufWriteInput): Promise<number> {
  const alignment = input.alignment ?? GGUF_DEFAULT_ALIGNMENT;
  if (!Number.isInteger(alignment) || alignment <= 0 || (alignment & (alignment - 1)) !== 0) {
    throw invalidArgument(`alignment ${alignment} is not a power of two`);
  }
  const metadata = new Map(input.metadata);
  if (alignment !== GGUF_DEFAULT_ALIGNMENT)
    metadata.set('general.alignment', { type: 'u32', value: alignment });

  const header = new ByteSink();
  header.u32(GGUF_MAGIC);
  header.u32(3);
  header.u64(input.tensors.length);
  header.u64(metadata.size);
  for (const [key, value] of metadata) {
    header.string(key);
    header.value(value);
  }
  const names = new Set<string>();
  const sizes: number[] = [];
  let offset = 0;
  for (const tensor of input.tensors) {
    const type = ggmlTypeByName.get(tensor.type);
    if (type === undefined) throw invalidArgument(`tensor "${tensor.name}" has unknown type ${tensor.type}`);
    if (names.has(tensor.name)) throw invalidArgument(`duplicate tensor name "${tensor.name}"`);
    if (Buffer.byteLength(tensor.name) > GGUF_MAX_TENSOR_NAME_BYTES)
      throw invalidArgument(`name "${tensor.name}"`);
    if (
      tensor.dims.length === 0 ||
      tensor.dims.length > GGUF_MAX_DIMS ||
      tensor.dims.some((d) => !(d >= 1))
    ) {
      throw invalidArgument(`tensor "${tensor.name}" has bad dims [${tensor.dims.join(', ')}]`);
    }
    names.add(tensor.name);
    let size: number;
    try {
      size = tensorByteSize(tensor.dims, type);
    } catch (error) {
      throw invalidArgument(`tensor "${tensor.name}": ${(error as Error).message}`);
    }
    if ('data' in tensor && tensor.data.length !== size) {
      throw invalidArgument(`tensor "${tensor.name}" has ${tensor.data.length} bytes of data, needs ${size}`);
    }
    header.string(tensor.name);
    header.u32(tensor.dims.length);
    for (const d of tensor.dims) header.u64(d);
    header.u32(type.id);
    header.u64(offset);
    sizes.push(size);
    offset += alignUp(size, alignment);
  }
  const headerBytes = header.toBuffer();

  const temporary = `${path}.${randomBytes(4).toString('hex')}.partial`;
  const handle = await open(temporary, 'w');
  try {
    const chunk = Buffer.alloc(CHUNK_BYTES);
    let used = 0;
    let written = 0;
    const flush = async (): Promise<void> => {
      if (used > 0) await handle.write(chunk, 0, used);
      written += used;
      used = 0;
    };
    const pad = async (): Promise<void> => {
      const padding = alignUp(written + used, alignment) - (written + used);
      if (used + padding > CHUNK_BYTES) await flush();
      chunk.fill(0, used, used + padding);
      used += padding;
    };
    await handle.write(headerBytes);
    written = headerBytes.length;
    await pad();
    for (const tensor of input.tensors) {
      if ('data' in tensor) {
        await flush();
        await handle.write(tensor.data);
        written += tensor.data.length;
      } else {
        const rowLength = tensor.dims[0] ?? 1;
        const rowBytes = encodedRowBytes(tensor.type, rowLength);
        const rows = tensor.dims.slice(1).reduce((p, d) => p * d, 1);
        const row = new Float32Array(rowLength);
        const big = rowBytes > CHUNK_BYTES ? Buffer.alloc(rowBytes) : null;
        for (let r = 0; r < rows; r++) {
          row.fill(0);
          tensor.fillRow(r, row);
          if (big) {
            await flush();
            encodeRow(tensor.type, row, big, 0);
            await handle.write(big);
            written += rowBytes;
            continue;
          }
          if (used + rowBytes > CHUNK_BYTES) await flush();
          used += encodeRow(tensor.type, row, chunk, used);
        }
      }
      await pad();
    }
    await flush();
    await handle.close();
    await rename(temporary, path);
    return written;
  } catch (error) {
    await handle.close().catch(() => undefined);
    await rm(temporary, { force: true });
    throw error;
  }
}
