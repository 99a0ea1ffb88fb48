import { EdgeFleetError } from '../../spec/edgefleet-error.js';
import {
  alignUp,
  GGUF_DEFAULT_ALIGNMENT,
  GGUF_MAGIC,
  GGUF_MAX_DIMS,
  GGUF_MAX_TENSOR_NAME_BYTES,
  ggmlTypeById,
  ggufFixedSize,
  ggufValueTypeById,
  type GgufArray,
  type GgufMetadata,
  type GgufTensorInfo,
  type GgufValue,
  type GgufValueType,
} from './gguf-types.js';

/** What a GGUF file's header says: metadata, tensor infos and where the tensor data starts. */
export interface GgufHeader {
  version: number;
  metadata: GgufMetadata;
  tensors: GgufTensorInfo[];
  alignment: number;
  /** Byte offset of the tensor data section (end of the header, padded to the alignment). */
  dataOffset: number;
  /** Bytes the tensor data section needs, each tensor padded to the alignment as llama.cpp lays it out. */
  dataBytes: number;
  /** Size of the whole file. */
  fileBytes: number;
}

/** Limits that keep a hostile header from making the parser allocate without bound. */
export interface GgufParseLimits {
  /** Bytes of the file that may be read as header; the header must end within them. */
  limitBytes: number;
  maxTensors: number;
  maxMetadataEntries: number;
  /** Array items across all metadata values together. */
  maxArrayItems: number;
  maxArrayDepth: number;
}

/** Thrown when the buffer ends before the header does; the caller reads more (up to the limit) and retries. */
export class NeedMoreBytes extends Error {
  constructor(readonly neededBytes: number) {
    super(`need ${neededBytes} bytes`);
  }
}

function invalid(message: string, offset: number): EdgeFleetError {
  return new EdgeFleetError('invalid_model_file', `invalid GGUF file: ${message}`, { data: { offset } });
}

/** Minimum encoded size of an array item of each type, used to bound counts before allocating. */
const minItemBytes = (type: GgufValueType): number =>
  type === 'string' ? 8 : type === 'array' ? 12 : ggufFixedSize[type];

/**
 * Parses a GGUF header from the first bytes of a file. `bytes` may be a prefix of the header: when it runs
 * out before `limits.limitBytes`, NeedMoreBytes is thrown; past the limit the file is reported as truncated
 * (or as having a header larger than allowed). Every count is checked against the bytes that could still
 * follow before anything is allocated.
 */
export function parseGgufHeader(bytes: Buffer, limits: GgufParseLimits, fileSizeBytes: number): GgufHeader {
  let pos = 0;
  let arrayItems = 0;

  const need = (n: number): void => {
    if (pos + n <= bytes.length) return;
    if (pos + n > limits.limitBytes) {
      if (limits.limitBytes >= fileSizeBytes)
        throw invalid(`truncated at byte ${pos} (needs ${n} more bytes)`, pos);
      throw invalid(`header is larger than the ${limits.limitBytes}-byte limit`, pos);
    }
    throw new NeedMoreBytes(pos + n);
  };
  const remaining = (): number => limits.limitBytes - pos;
  const u32 = (): number => {
    need(4);
    const v = bytes.readUInt32LE(pos);
    pos += 4;
    return v;
  };
  const u64 = (what: string): number => {
    need(8);
    const high = bytes.readUInt32LE(pos + 4);
    // Above 2^53 a number loses integers; no honest count, size or offset gets near that.
    if (high >= 0x200000) throw invalid(`${what} ${bytes.readBigUInt64LE(pos)} is out of range`, pos);
    const v = high * 0x100000000 + bytes.readUInt32LE(pos);
    pos += 8;
    return v;
  };
  const count = (what: string, max: number, minBytesEach: number): number => {
    const at = pos;
    const n = u64(what);
    if (n > max) throw invalid(`${what} ${n} exceeds the limit of ${max}`, at);
    if (n * minBytesEach > remaining()) {
      const room =
        limits.limitBytes < fileSizeBytes ? `the ${limits.limitBytes}-byte header limit` : 'the file';
      throw invalid(`${what} ${n} cannot fit in ${room}`, at);
    }
    return n;
  };
  const string = (what: string): string => {
    const length = count(what, limits.limitBytes, 1);
    need(length);
    const s = bytes.toString('utf8', pos, pos + length);
    pos += length;
    return s;
  };
  const valueType = (): GgufValueType => {
    const at = pos;
    const id = u32();
    const type = ggufValueTypeById.get(id);
    if (type === undefined) throw invalid(`unknown metadata value type ${id}`, at);
    return type;
  };

  const fixedAt = (
    type: Exclude<GgufValueType, 'array' | 'string'>,
    at: number,
  ): number | bigint | boolean => {
    switch (type) {
      case 'u8':
        return bytes.readUInt8(at);
      case 'i8':
        return bytes.readInt8(at);
      case 'u16':
        return bytes.readUInt16LE(at);
      case 'i16':
        return bytes.readInt16LE(at);
      case 'u32':
        return bytes.readUInt32LE(at);
      case 'i32':
        return bytes.readInt32LE(at);
      case 'f32':
        return bytes.readFloatLE(at);
      case 'f64':
        return bytes.readDoubleLE(at);
      case 'u64':
        return bytes.readBigUInt64LE(at);
      case 'i64':
        return bytes.readBigInt64LE(at);
      case 'bool':
        return bytes.readUInt8(at) !== 0;
    }
  };

  const scalar = (type: Exclude<GgufValueType, 'array'>): GgufValue => {
    if (type === 'string') return { type, value: string('string length') };
    need(ggufFixedSize[type]);
    const value = fixedAt(type, pos);
    pos += ggufFixedSize[type];
    return { type, value } as GgufValue;
  };

  const array = (depth: number): GgufArray => {
    if (depth > limits.maxArrayDepth) throw invalid(`arrays nested deeper than ${limits.maxArrayDepth}`, pos);
    const itemType = valueType();
    const n = count('array length', limits.maxArrayItems - arrayItems, minItemBytes(itemType));
    arrayItems += n;
    if (itemType === 'array') {
      const items: GgufArray[] = [];
      for (let i = 0; i < n; i++) items.push(array(depth + 1));
      return { type: 'array', itemType, value: items };
    }
    const items: unknown[] = new Array<unknown>(n);
    if (itemType === 'string') {
      for (let i = 0; i < n; i++) items[i] = string('string length');
    } else {
      const size = ggufFixedSize[itemType];
      need(n * size);
      for (let i = 0; i < n; i++) items[i] = fixedAt(itemType, pos + i * size);
      pos += n * size;
    }
    return { type: 'array', itemType, value: items } as GgufArray;
  };

  // Fixed header: magic, version, tensor count, metadata count.
  need(4);
  if (bytes.readUInt32LE(0) !== GGUF_MAGIC) {
    throw invalid(`bad magic ${JSON.stringify(bytes.toString('latin1', 0, 4))}, expected "GGUF"`, 0);
  }
  pos = 4;
  const version = u32();
  if (version !== 2 && version !== 3) {
    const hint = (version & 0xffff) === 0 ? ' (a big-endian file?)' : '';
    throw invalid(`unsupported version ${version}${hint}; only GGUF v2 and v3 are read`, 4);
  }
  const tensorCount = count('tensor count', limits.maxTensors, 24);
  const metadataCount = count('metadata count', limits.maxMetadataEntries, 13);

  const metadata: GgufMetadata = new Map();
  for (let i = 0; i < metadataCount; i++) {
    const at = pos;
    const key = string('key length');
    if (key.length === 0) throw invalid(`metadata key ${i} is empty`, at);
    if (metadata.has(key)) throw invalid(`duplicate metadata key "${key}"`, at);
    const type = valueType();
    metadata.set(key, type === 'array' ? array(1) : scalar(type));
  }

  const alignmentValue = metadata.get('general.alignment');
  let alignment = GGUF_DEFAULT_ALIGNMENT;
  if (alignmentValue !== undefined) {
    if (alignmentValue.type !== 'u32') throw invalid('general.alignment must be a u32', 0);
    alignment = alignmentValue.value;
    if (alignment === 0 || (alignment & (alignment - 1)) !== 0) {
      throw invalid(`general.alignment ${alignment} is not a power of two`, 0);
    }
  }

  const tensors: GgufTensorInfo[] = [];
  const names = new Set<string>();
  let dataBytes = 0;
  for (let i = 0; i < tensorCount; i++) {
    const at = pos;
    const name = string('tensor name length');
    if (Buffer.byteLength(name) > GGUF_MAX_TENSOR_NAME_BYTES)
      throw invalid(`tensor name "${name}" is too long`, at);
    if (names.has(name)) throw invalid(`duplicate tensor name "${name}"`, at);
    names.add(name);
    const nDims = u32();
    if (nDims > GGUF_MAX_DIMS)
      throw invalid(`tensor "${name}" has ${nDims} dimensions (max ${GGUF_MAX_DIMS})`, at);
    const dims: number[] = [];
    let elementCount = 1;
    for (let d = 0; d < nDims; d++) {
      const size = u64(`tensor "${name}" dimension`);
      elementCount *= size;
      if (elementCount > Number.MAX_SAFE_INTEGER) throw invalid(`tensor "${name}" has too many elements`, at);
      dims.push(size);
    }
    const typeId = u32();
    const type = ggmlTypeById.get(typeId);
    if (type === undefined) throw invalid(`tensor "${name}" has unknown ggml type ${typeId}`, at);
    const rowLength = dims[0] ?? 1;
    if (rowLength % type.blockSize !== 0) {
      throw invalid(
        `tensor "${name}" row length ${rowLength} is not a multiple of ${type.name}'s block size`,
        at,
      );
    }
    const offset = u64(`tensor "${name}" offset`);
    if (offset !== dataBytes)
      throw invalid(`tensor "${name}" has offset ${offset}, expected ${dataBytes}`, at);
    const byteSize = (elementCount / type.blockSize) * type.typeSize;
    dataBytes += alignUp(byteSize, alignment);
    tensors.push({ name, dims, type, offset, elementCount, byteSize });
  }

  const dataOffset = alignUp(pos, alignment);
  const last = tensors.at(-1);
  // A file without tensors (vocab-only) may end right after the header, without padding.
  const dataEnd = last === undefined ? pos : dataOffset + last.offset + last.byteSize;
  if (dataEnd > fileSizeBytes) {
    throw invalid(
      `tensor data ends at byte ${dataEnd} but the file has ${fileSizeBytes} bytes (truncated?)`,
      pos,
    );
  }
  return { version, metadata, tensors, alignment, dataOffset, dataBytes, fileBytes: fileSizeBytes };
}
