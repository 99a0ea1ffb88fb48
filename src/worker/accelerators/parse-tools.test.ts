import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { MIB } from './accelerator-device.js';
import { parseAppleSysctl } from './parse-apple-sysctl.js';
import { parseHySmi } from './parse-hy-smi.js';
import { parseLinuxCpu } from './parse-linux-cpu.js';
import { parseNpuSmi } from './parse-npu-smi.js';
import { parseNvidiaSmi } from './parse-nvidia-smi.js';
import { parseRocmSmi } from './parse-rocm-smi.js';

/** Captured real outputs; each folder's README.md names where they came from. */
function fixture(path: string): string {
  return readFileSync(new URL(`../../../test/fixtures/accelerators/${path}`, import.meta.url), 'utf8');
}

describe('parseNvidiaSmi', () => {
  it('reads an 8× RTX 4090 box (index, name, memory.total with units)', () => {
    const devices = parseNvidiaSmi(fixture('nvidia/rtx4090x8-query.csv'));
    expect(devices).toHaveLength(8);
    expect(devices.map((d) => d.index)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(devices.every((d) => d.name === 'NVIDIA GeForce RTX 4090' && d.memoryBytes === 24564 * MIB)).toBe(
      true,
    );
    expect(devices[0]).toEqual({
      vendor: 'nvidia',
      kind: 'gpu',
      index: 0,
      name: 'NVIDIA GeForce RTX 4090',
      memoryBytes: 24564 * MIB,
    });
  });

  it('reads used memory and utilisation where the query asked for them (8× V100, one busy)', () => {
    const devices = parseNvidiaSmi(fixture('nvidia/v100x8-query.csv'));
    expect(devices).toHaveLength(8);
    expect(devices[5]?.memoryBytes).toBe(32764 * MIB);
    expect(devices[6]).toMatchObject({
      name: 'Tesla V100-SXM2-32GB',
      memoryBytes: 32768 * MIB,
      memoryUsedBytes: 13928 * MIB,
      utilizationPercent: 100,
    });
    expect(devices[0]).toMatchObject({ memoryUsedBytes: 4 * MIB, utilizationPercent: 0 });
  });

  it('reads an H100 SXM row whose header expanded clocks.sm to clocks.current.sm [MHz]', () => {
    expect(parseNvidiaSmi(fixture('nvidia/h100-query-excerpt.csv'))).toEqual([
      { vendor: 'nvidia', kind: 'gpu', index: 0, name: 'NVIDIA H100 80GB HBM3', memoryBytes: 81559 * MIB },
    ]);
  });

  it('keeps the index nvidia-smi printed and reads nounits output', () => {
    expect(parseNvidiaSmi(fixture('nvidia/a100-query.csv'))).toEqual([
      {
        vendor: 'nvidia',
        kind: 'gpu',
        index: 1,
        name: 'NVIDIA A100-SXM4-80GB',
        memoryBytes: 81920 * MIB,
        memoryUsedBytes: 2048 * MIB,
      },
    ]);
    const nounits =
      'index, uuid, name, memory.total [MiB], utilization.gpu [%], pci.bus_id\n0, GPU-1, NVIDIA H20, 97871, [N/A], 00000000:18:00.0\n';
    expect(parseNvidiaSmi(nounits)).toEqual([
      {
        vendor: 'nvidia',
        kind: 'gpu',
        index: 0,
        name: 'NVIDIA H20',
        memoryBytes: 97871 * MIB,
        uuid: 'GPU-1',
        busId: '00000000:18:00.0',
      },
    ]);
  });

  it('rejects output that is not the query table', () => {
    expect(() =>
      parseNvidiaSmi('NVIDIA-SMI has failed because it could not communicate with the NVIDIA driver.'),
    ).toThrow(/name/);
    expect(() => parseNvidiaSmi('index, name, memory.total [MiB]\n0, broken\n')).toThrow(/fields/);
    expect(parseNvidiaSmi('')).toEqual([]);
  });
});

describe('parseRocmSmi', () => {
  it('reads a Radeon RX 7900 XT from rocm-smi --json', () => {
    expect(parseRocmSmi(fixture('amd/rocm-smi-rx7900xt.json'))).toEqual([
      {
        vendor: 'amd',
        kind: 'gpu',
        index: 0,
        name: 'Radeon RX 7900 XT',
        memoryBytes: 21458059264,
        memoryUsedBytes: 27856896,
        utilizationPercent: 0,
      },
    ]);
  });

  it('rejects non-JSON output', () => {
    expect(() => parseRocmSmi('ERROR: GPU[0] : Unable to get GPU memory use.')).toThrow();
  });
});

describe('parseNpuSmi', () => {
  it('reads an Atlas 800T A2 with 8× Ascend 910B3', () => {
    const devices = parseNpuSmi(fixture('ascend/910b3x8-npu-smi-info.txt'));
    expect(devices).toHaveLength(8);
    expect(devices.map((d) => d.index)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(devices.every((d) => d.name === '910B3' && d.memoryBytes === 65536 * MIB)).toBe(true);
    expect(devices[0]).toEqual({
      vendor: 'huawei',
      kind: 'npu',
      index: 0,
      name: '910B3',
      memoryBytes: 65536 * MIB,
      memoryUsedBytes: 3338 * MIB,
      busId: '0000:C1:00.0',
      utilizationPercent: 0,
    });
    expect(devices[7]?.busId).toBe('0000:42:00.0');
  });

  it('rejects text without the NPU table', () => {
    expect(() =>
      parseNpuSmi('dcmi model initialized failed, because the device is used. ret is -8020'),
    ).toThrow(/NPU Name/);
  });
});

describe('parseHySmi', () => {
  const table = fixture('hygon/k100-ai-x8-hy-smi.txt');
  const memory = fixture('hygon/k100-ai-x8-hy-smi-showmemavailable.txt');
  const product = fixture('hygon/k100-ai-x8-hy-smi-a-excerpt.txt');

  it('reads 8× K100_AI with names and sizes from the optional queries', () => {
    const devices = parseHySmi(table, [memory, product]);
    expect(devices).toHaveLength(8);
    expect(devices.every((d) => d.name === 'K100_AI' && d.memoryBytes === 65438 * MIB)).toBe(true);
    expect(devices[0]).toEqual({
      vendor: 'hygon',
      kind: 'gpu',
      index: 0,
      name: 'K100_AI',
      memoryBytes: 65438 * MIB,
      memoryUsedBytes: Math.round(65438 * MIB * 0.91),
      utilizationPercent: 0,
    });
  });

  it('still lists the cards from the table alone', () => {
    const devices = parseHySmi(table);
    expect(devices).toHaveLength(8);
    expect(devices[3]).toEqual({
      vendor: 'hygon',
      kind: 'gpu',
      index: 3,
      name: 'Hygon DCU',
      memoryBytes: 0,
      utilizationPercent: 0,
    });
  });

  it('rejects text without the table header', () => {
    expect(() => parseHySmi('Error: hydcu driver not loaded')).toThrow(/header/);
  });
});

describe('parseAppleSysctl', () => {
  it('reads the brand string of an M2 Max', () => {
    expect(parseAppleSysctl(fixture('apple/m2-max-sysctl-machdep-cpu.txt'))).toEqual({
      vendor: 'apple',
      kind: 'apple',
      index: 0,
      name: 'Apple M2 Max',
      memoryBytes: 0,
    });
  });

  it('reads the unified memory of a 128 GB M3 from `sysctl hw`', () => {
    expect(parseAppleSysctl(fixture('apple/m3-max-sysctl-hw.txt'))).toMatchObject({
      name: 'Apple silicon',
      memoryBytes: 137438953472,
    });
  });

  it('ignores Intel Macs and rejects non-sysctl text', () => {
    expect(
      parseAppleSysctl(
        'machdep.cpu.brand_string: Intel(R) Core(TM) i9-9980HK CPU @ 2.40GHz\nhw.memsize: 34359738368\n',
      ),
    ).toBeUndefined();
    expect(() => parseAppleSysctl('sysctl: unknown oid')).not.toThrow();
    expect(() => parseAppleSysctl('garbage')).toThrow(/name: value/);
  });
});

describe('parseLinuxCpu', () => {
  it('reads the model, logical CPUs and RAM of this CPU-only CI box', () => {
    expect(
      parseLinuxCpu(fixture('cpu/this-ci-box-cpuinfo.txt'), fixture('cpu/this-ci-box-meminfo.txt')),
    ).toEqual({
      model: 'Intel(R) Xeon(R) Processor',
      logicalCpus: 2,
      memoryBytes: 24683656 * 1024,
    });
  });

  it('names ARM CPUs that print no model name and rejects a meminfo without MemTotal', () => {
    const kunpeng = 'processor\t: 0\nBogoMIPS\t: 200.00\nCPU implementer\t: 0x48\nCPU part\t: 0xd01\n';
    expect(parseLinuxCpu(kunpeng, 'MemTotal: 1024 kB\n')).toEqual({
      model: 'ARM 0x48 part 0xd01',
      logicalCpus: 1,
      memoryBytes: 1024 * 1024,
    });
    expect(() => parseLinuxCpu(kunpeng, '')).toThrow(/MemTotal/);
  });
});
