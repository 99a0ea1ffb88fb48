import type { HardwareSpec } from './hardware-spec.js';

const GB = 1e9;
const GiB = 1024 ** 3;
const T = 1e12;
const pcie4 = 32 * GB;
const serverHost = 2048 * GiB;

/** Huawei Ascend NPUs and the Hygon DCU, the accelerators of the Chinese private-deployment market. */
export const domesticAccelerators: HardwareSpec[] = [
  {
    id: 'ascend-910b',
    name: 'Huawei Ascend 910B 64GB',
    vendor: 'huawei',
    kind: 'npu',
    memoryBytes: 64 * GiB,
    memoryBandwidthBytesPerSecond: 1600 * GB,
    fp16Flops: 313 * T,
    fp8Flops: null,
    int8Ops: 640 * T,
    powerWatts: 400,
    pricePerHourUsd: 1.0,
    interconnectBytesPerSecond: 196 * GB,
    hostMemoryBytes: serverHost,
    nativeDtypes: ['f32', 'bf16', 'f16', 'int8'],
    source:
      'Huawei Atlas 800T A2 / Ascend 910B public specifications (HCCS 392 GB/s bidirectional); price approximate',
  },
  {
    id: 'ascend-310p',
    name: 'Huawei Ascend 310P (Atlas 300I Pro) 24GB',
    vendor: 'huawei',
    kind: 'npu',
    memoryBytes: 24 * GiB,
    memoryBandwidthBytesPerSecond: 204.8 * GB,
    fp16Flops: 70 * T,
    fp8Flops: null,
    int8Ops: 140 * T,
    powerWatts: 72,
    pricePerHourUsd: 0.2,
    interconnectBytesPerSecond: pcie4,
    hostMemoryBytes: serverHost,
    nativeDtypes: ['f32', 'f16', 'int8'],
    source: 'Huawei Atlas 300I Pro inference card datasheet; price approximate',
  },
  {
    id: 'hygon-k100',
    name: 'Hygon DCU K100 AI 64GB',
    vendor: 'hygon',
    kind: 'gpu',
    memoryBytes: 64 * GiB,
    memoryBandwidthBytesPerSecond: 896 * GB,
    fp16Flops: 196 * T,
    fp8Flops: null,
    int8Ops: 392 * T,
    powerWatts: 350,
    pricePerHourUsd: 0.8,
    interconnectBytesPerSecond: pcie4,
    hostMemoryBytes: serverHost,
    nativeDtypes: ['f32', 'bf16', 'f16', 'int8'],
    source: 'Hygon DCU K100 AI figures as reported by Chinese press (no public datasheet; approximate)',
  },
];
