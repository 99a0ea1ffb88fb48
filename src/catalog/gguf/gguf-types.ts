/**
 * GGUF vocabulary shared by the reader and the writer: value types, ggml tensor types with their block
 * layout, and the shapes of metadata values and tensor infos.
 * Format reference: ggml/docs/gguf.md and ggml/src/gguf.cpp in llama.cpp.
 */

/** "GGUF" read as a little-endian u32. */
export const GGUF_MAGIC = 0x46554747;
export const GGUF_DEFAULT_ALIGNMENT = 32;
/** llama.cpp's GGML_MAX_NAME is 64 bytes including the terminating NUL. */
export const GGUF_MAX_TENSOR_NAME_BYTES = 63;
export const GGUF_MAX_DIMS = 4;

/** GGUF metadata value types, by their numeric id in the file. */
export const ggufValueTypeIds = {
  u8: 0,
  i8: 1,
  u16: 2,
  i16: 3,
  u32: 4,
  i32: 5,
  f32: 6,
  bool: 7,
  string: 8,
  array: 9,
  u64: 10,
  i64: 11,
  f64: 12,
} as const;

export type GgufValueType = keyof typeof ggufValueTypeIds;
export type GgufNumberType = 'u8' | 'i8' | 'u16' | 'i16' | 'u32' | 'i32' | 'f32' | 'f64';
export type GgufBigIntType = 'u64' | 'i64';

export const ggufValueTypeById: ReadonlyMap<number, GgufValueType> = new Map(
  Object.entries(ggufValueTypeIds).map(([name, id]) => [id, name as GgufValueType]),
);

/** Bytes taken by one value of a fixed-size type (strings and arrays are variable). */
export const ggufFixedSize: Readonly<Record<Exclude<GgufValueType, 'string' | 'array'>, number>> = {
  u8: 1,
  i8: 1,
  u16: 2,
  i16: 2,
  u32: 4,
  i32: 4,
  f32: 4,
  bool: 1,
  u64: 8,
  i64: 8,
  f64: 8,
};

/** A typed GGUF metadata value. Arrays keep their item type so that a value round-trips exactly. */
export type GgufValue =
  | { type: GgufNumberType; value: number }
  | { type: GgufBigIntType; value: bigint }
  | { type: 'bool'; value: boolean }
  | { type: 'string'; value: string }
  | GgufArray;

export type GgufArray =
  | { type: 'array'; itemType: GgufNumberType; value: number[] }
  | { type: 'array'; itemType: GgufBigIntType; value: bigint[] }
  | { type: 'array'; itemType: 'bool'; value: boolean[] }
  | { type: 'array'; itemType: 'string'; value: string[] }
  | { type: 'array'; itemType: 'array'; value: GgufArray[] };

export type GgufMetadata = Map<string, GgufValue>;

/** A ggml tensor type: its id in the file, how many elements form a block, and the bytes per block. */
export interface GgmlTypeInfo {
  readonly id: number;
  readonly name: string;
  readonly blockSize: number;
  readonly typeSize: number;
}

/** ggml tensor types that GGUF files may contain (ggml/src/ggml.c type_traits, ggml-common.h blocks). */
export const ggmlTypes: readonly GgmlTypeInfo[] = [
  { id: 0, name: 'F32', blockSize: 1, typeSize: 4 },
  { id: 1, name: 'F16', blockSize: 1, typeSize: 2 },
  { id: 2, name: 'Q4_0', blockSize: 32, typeSize: 18 },
  { id: 3, name: 'Q4_1', blockSize: 32, typeSize: 20 },
  { id: 6, name: 'Q5_0', blockSize: 32, typeSize: 22 },
  { id: 7, name: 'Q5_1', blockSize: 32, typeSize: 24 },
  { id: 8, name: 'Q8_0', blockSize: 32, typeSize: 34 },
  { id: 9, name: 'Q8_1', blockSize: 32, typeSize: 36 },
  { id: 10, name: 'Q2_K', blockSize: 256, typeSize: 84 },
  { id: 11, name: 'Q3_K', blockSize: 256, typeSize: 110 },
  { id: 12, name: 'Q4_K', blockSize: 256, typeSize: 144 },
  { id: 13, name: 'Q5_K', blockSize: 256, typeSize: 176 },
  { id: 14, name: 'Q6_K', blockSize: 256, typeSize: 210 },
  { id: 15, name: 'Q8_K', blockSize: 256, typeSize: 292 },
  { id: 16, name: 'IQ2_XXS', blockSize: 256, typeSize: 66 },
  { id: 17, name: 'IQ2_XS', blockSize: 256, typeSize: 74 },
  { id: 18, name: 'IQ3_XXS', blockSize: 256, typeSize: 98 },
  { id: 19, name: 'IQ1_S', blockSize: 256, typeSize: 50 },
  { id: 20, name: 'IQ4_NL', blockSize: 32, typeSize: 18 },
  { id: 21, name: 'IQ3_S', blockSize: 256, typeSize: 110 },
  { id: 22, name: 'IQ2_S', blockSize: 256, typeSize: 82 },
  { id: 23, name: 'IQ4_XS', blockSize: 256, typeSize: 136 },
  { id: 24, name: 'I8', blockSize: 1, typeSize: 1 },
  { id: 25, name: 'I16', blockSize: 1, typeSize: 2 },
  { id: 26, name: 'I32', blockSize: 1, typeSize: 4 },
  { id: 27, name: 'I64', blockSize: 1, typeSize: 8 },
  { id: 28, name: 'F64', blockSize: 1, typeSize: 8 },
  { id: 29, name: 'IQ1_M', blockSize: 256, typeSize: 56 },
  { id: 30, name: 'BF16', blockSize: 1, typeSize: 2 },
  { id: 34, name: 'TQ1_0', blockSize: 256, typeSize: 54 },
  { id: 35, name: 'TQ2_0', blockSize: 256, typeSize: 66 },
  { id: 39, name: 'MXFP4', blockSize: 32, typeSize: 17 },
  { id: 40, name: 'NVFP4', blockSize: 64, typeSize: 36 },
  { id: 41, name: 'Q1_0', blockSize: 128, typeSize: 18 },
  { id: 42, name: 'Q2_0', blockSize: 64, typeSize: 18 },
];

export const ggmlTypeById: ReadonlyMap<number, GgmlTypeInfo> = new Map(ggmlTypes.map((t) => [t.id, t]));
export const ggmlTypeByName: ReadonlyMap<string, GgmlTypeInfo> = new Map(ggmlTypes.map((t) => [t.name, t]));

/** One tensor as described in the header. `dims[0]` is the row length (ggml's ne[0]). */
export interface GgufTensorInfo {
  name: string;
  dims: number[];
  type: GgmlTypeInfo;
  /** Offset of the data relative to the start of the data section. */
  offset: number;
  elementCount: number;
  byteSize: number;
}

/** Bytes a tensor's data takes, or throws a RangeError when the row length is not a whole number of blocks. */
export function tensorByteSize(dims: readonly number[], type: GgmlTypeInfo): number {
  const rowLength = dims[0] ?? 1;
  if (rowLength % type.blockSize !== 0) {
    throw new RangeError(
      `row length ${rowLength} is not a multiple of ${type.name}'s block size ${type.blockSize}`,
    );
  }
  const rows = dims.slice(1).reduce((product, d) => product * d, 1);
  return (rowLength / type.blockSize) * type.typeSize * rows;
}

export function alignUp(value: number, alignment: number): number {
  return Math.ceil(value / alignment) * alignment;
}
