import { describe, expect, it } from 'vitest';
import { hardwareCatalog } from '../../catalog/hardware/hardware-catalog.js';
import { matchableHardwareIds, matchHardwareId } from './match-hardware-id.js';

describe('matchHardwareId', () => {
  it.each([
    // nvidia-smi names
    ['NVIDIA H100 80GB HBM3', 'h100-sxm'],
    ['NVIDIA H100 PCIe', 'h100-pcie'],
    ['NVIDIA H800', 'h800'],
    ['NVIDIA H20', 'h20'],
    ['NVIDIA H200', 'h200'],
    ['NVIDIA A100-SXM4-80GB', 'a100-80gb'],
    ['NVIDIA A100-SXM4-40GB', 'a100-40gb'],
    ['NVIDIA A100 80GB PCIe', 'a100-80gb'],
    ['NVIDIA A800-SXM4-80GB', 'a800-80gb'],
    ['NVIDIA L20', 'l20'],
    ['NVIDIA L40S', 'l40s'],
    ['NVIDIA GeForce RTX 4090', 'rtx-4090'],
    ['NVIDIA GeForce RTX 3090', 'rtx-3090'],
    ['NVIDIA GeForce RTX 5090', 'rtx-5090'],
    // rocm-smi / amd-smi names
    ['AMD Instinct MI300X', 'mi300x'],
    ['AMD Instinct MI300X OAM', 'mi300x'],
    // npu-smi and torch_npu names
    ['910B3', 'ascend-910b'],
    ['910B4', 'ascend-910b'],
    ['Ascend910B3', 'ascend-910b'],
    ['310P3', 'ascend-310p'],
    // hy-smi
    ['K100_AI', 'hygon-k100'],
    // macOS brand strings
    ['Apple M3 Max', 'apple-m3-max'],
    ['Apple M2 Ultra', 'apple-m2-ultra'],
    ['Apple M3 Ultra', 'apple-m3-ultra'],
  ])('%s → %s', (name, id) => {
    expect(matchHardwareId(name)).toBe(id);
  });

  it.each([
    'NVIDIA H100 NVL',
    'NVIDIA GeForce RTX 4090 D',
    'NVIDIA GeForce RTX 3090 Ti',
    'Tesla V100-SXM2-32GB',
    'Radeon RX 7900 XT',
    'AMD Instinct MI250X',
    'Ascend910',
    'Hygon DCU',
    'Z100L',
    'Apple M2 Max',
    'Apple silicon',
    '',
  ])('%s has no catalog id', (name) => {
    expect(matchHardwareId(name)).toBeUndefined();
  });

  it('only returns ids that exist in the hardware catalog', () => {
    const ids = new Set(hardwareCatalog.map((hardware) => hardware.id));
    expect(matchableHardwareIds.filter((id) => !ids.has(id))).toEqual([]);
  });
});
