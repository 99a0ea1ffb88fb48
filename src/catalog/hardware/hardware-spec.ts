import { z } from 'zod';

export const hardwareKinds = ['gpu', 'npu', 'cpu', 'apple'] as const;
export type HardwareKind = (typeof hardwareKinds)[number];

export const hardwareVendors = [
  'nvidia',
  'amd',
  'huawei',
  'hygon',
  'apple',
  'intel',
  'hisilicon',
  'custom',
] as const;
export const nativeDtypes = ['f32', 'bf16', 'f16', 'fp8', 'int8'] as const;
export type NativeDtype = (typeof nativeDtypes)[number];

/** One accelerator (or one CPU socket, or one Apple SoC): the unit that `--count` multiplies. */
export const hardwareSpecSchema = z.strictObject({
  id: z.string().min(1),
  name: z.string().min(1),
  vendor: z.enum(hardwareVendors),
  kind: z.enum(hardwareKinds),
  /** Memory the model can use on this device (HBM/GDDR; unified memory for Apple; DRAM per socket for CPUs). */
  memoryBytes: z.number().positive(),
  memoryBandwidthBytesPerSecond: z.number().positive(),
  /** Dense (not sparse) peaks. */
  fp16Flops: z.number().positive(),
  fp8Flops: z.number().positive().nullable(),
  int8Ops: z.number().positive(),
  powerWatts: z.number().positive(),
  /** Typical rent (cloud) or amortized purchase per hour; null when there is no sensible number. */
  pricePerHourUsd: z.number().nonnegative().nullable(),
  /** Device-to-device bandwidth per device, one direction (NVLink, HCCS, Infinity Fabric, PCIe). */
  interconnectBytesPerSecond: z.number().positive(),
  /** Host DRAM a typical server with this device offers for offloaded weights (bytes, whole server). */
  hostMemoryBytes: z.number().nonnegative(),
  nativeDtypes: z.array(z.enum(nativeDtypes)).min(1),
  source: z.string().min(1),
});

export type HardwareSpec = z.infer<typeof hardwareSpecSchema>;

/** What `--hardware-spec FILE` accepts: the documented fields, strict, with units in the names. */
export const hardwareSpecInputSchema = z.strictObject({
  name: z.string().min(1),
  kind: z.enum(hardwareKinds),
  memoryBytes: z.number().positive(),
  memoryBandwidthBytesPerSecond: z.number().positive(),
  fp16Flops: z.number().positive(),
  int8Ops: z.number().positive(),
  fp8Flops: z.number().positive().optional(),
  powerWatts: z.number().positive().optional(),
  pricePerHourUsd: z.number().nonnegative().optional(),
  interconnectBytesPerSecond: z.number().positive().optional(),
});

export type HardwareSpecInput = z.infer<typeof hardwareSpecInputSchema>;

/** Turns a validated `--hardware-spec` object into a catalog entry (vendor "custom", dtypes from its peaks). */
export function hardwareFromInput(input: HardwareSpecInput): HardwareSpec {
  const id = input.name
    .toLowerCase()
    .replace(/[^a-z0-9.]+/g, '-')
    .replace(/^-|-$/g, '');
  const dtypes: HardwareSpec['nativeDtypes'] = ['f32', 'bf16', 'f16', 'int8'];
  if (input.fp8Flops !== undefined) dtypes.push('fp8');
  return hardwareSpecSchema.parse({
    id: id || 'custom',
    name: input.name,
    vendor: 'custom',
    kind: input.kind,
    memoryBytes: input.memoryBytes,
    memoryBandwidthBytesPerSecond: input.memoryBandwidthBytesPerSecond,
    fp16Flops: input.fp16Flops,
    fp8Flops: input.fp8Flops ?? null,
    int8Ops: input.int8Ops,
    powerWatts: input.powerWatts ?? 300,
    pricePerHourUsd: input.pricePerHourUsd ?? null,
    interconnectBytesPerSecond: input.interconnectBytesPerSecond ?? 32e9,
    hostMemoryBytes: 0,
    nativeDtypes: dtypes,
    source: 'user-supplied --hardware-spec',
  });
}
