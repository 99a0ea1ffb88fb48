/**
 * amd-smi: the parser on captured `amd-smi static/metric --json` outputs (both JSON layouts), and
 * detectAccelerators preferring amd-smi over rocm-smi, falling back, and degrading to CPU only.
 */
import { readFileSync } from 'node:fs';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import type { CommandResult, RunCommand } from './accelerator-device.js';
import { MIB } from './accelerator-device.js';
import { detectAccelerators } from './detect-accelerators.js';
import { amdSmiMetricArgs, amdSmiStaticArgs, parseAmdSmi } from './parse-amd-smi.js';

/** Captured real outputs; test/fixtures/accelerators/amd-smi/README.md names where they came from. */
function fixture(path: string): string {
  return readFileSync(new URL(`../../../test/fixtures/accelerators/${path}`, import.meta.url), 'utf8');
}

const rx6600Static = fixture('amd-smi/rx6600-static.json');
const rx6600Metric = fixture('amd-smi/rx6600-metric.json');
const mi210Static = fixture('amd-smi/mi210-static.json');

describe('parseAmdSmi', () => {
  it('reads a Radeon RX 6600 from the list layout (amd-smi before 26.x), with metric values', () => {
    expect(parseAmdSmi(rx6600Static, rx6600Metric)).toEqual([
      {
        vendor: 'amd',
        kind: 'gpu',
        index: 0,
        name: 'Navi 23 [Radeon RX 6600/6600 XT',
        memoryBytes: 8176 * MIB,
        memoryUsedBytes: 202 * MIB,
        utilizationPercent: 1,
        busId: '0000:0b:00.0',
      },
    ]);
  });

  it('reads an Instinct MI210 from the {"gpu_data": [...]} layout (amd-smi 26.x, ROCm 7)', () => {
    expect(parseAmdSmi(mi210Static)).toEqual([
      { vendor: 'amd', kind: 'gpu', index: 0, name: 'AMD Instinct MI210', memoryBytes: 65520 * MIB },
    ]);
  });

  it('lists the cards when the metric output is missing, garbled or for other GPUs', () => {
    const plain = { name: 'Navi 23 [Radeon RX 6600/6600 XT', memoryBytes: 8176 * MIB };
    for (const metric of [undefined, '', 'Segmentation fault', '{"gpu_data": 3}']) {
      const [device] = parseAmdSmi(rx6600Static, metric);
      expect(device).toMatchObject(plain);
      expect(device?.memoryUsedBytes).toBeUndefined();
    }
    const otherGpu = rx6600Metric.replace('"gpu": 0', '"gpu": 5');
    expect(parseAmdSmi(rx6600Static, otherGpu)[0]?.utilizationPercent).toBeUndefined();
  });

  it('skips warning lines before the JSON, including ones that start with a bracket', () => {
    const noisy = `[WARNING] amdgpu version is older than recommended\n${mi210Static}`;
    expect(parseAmdSmi(noisy)[0]?.name).toBe('AMD Instinct MI210');
  });

  it('falls back to the metric total, board name and position when static leaves them out', () => {
    const entry = JSON.parse(rx6600Static) as Array<Record<string, unknown>>;
    const trimmed = entry.map(({ gpu: _gpu, asic: _asic, vram: _vram, ...rest }) => ({
      ...rest,
      board: { product_name: 'AMD Radeon RX 6600' },
    }));
    expect(parseAmdSmi(JSON.stringify(trimmed), rx6600Metric)[0]).toMatchObject({
      index: 0,
      name: 'AMD Radeon RX 6600',
      memoryBytes: 8176 * MIB,
    });
  });

  it('rejects output that is not amd-smi JSON', () => {
    expect(() => parseAmdSmi('ERROR:root:Unable to detect any GPU devices')).toThrow(/no JSON/);
    expect(() => parseAmdSmi('{"error": "AMDSMI_STATUS_NOT_INIT"}')).toThrow(/gpu_data/);
    expect(parseAmdSmi('[]')).toEqual([]);
  });
});

/** A logger that keeps its JSON lines, so tests can assert what was logged. */
function capturingLogger(): { log: pino.Logger; lines: () => Array<Record<string, unknown>> } {
  const chunks: string[] = [];
  const log = pino({ level: 'debug' }, { write: (chunk: string) => void chunks.push(chunk) });
  return { log, lines: () => chunks.map((chunk) => JSON.parse(chunk) as Record<string, unknown>) };
}

const ok = (stdout: string): CommandResult => ({ exitCode: 0, stdout, stderr: '', timedOut: false });

/** Answers `cmd args…` from the table; a command not in it is not installed (ENOENT). Records calls. */
function fakeRun(answers: Record<string, string | CommandResult>, calls: string[] = []): RunCommand {
  return async (cmd, args) => {
    const line = [cmd, ...args].join(' ');
    calls.push(line);
    const answer = answers[line] ?? answers[cmd];
    if (answer === undefined) throw Object.assign(new Error(`spawn ${cmd} ENOENT`), { code: 'ENOENT' });
    return typeof answer === 'string' ? ok(answer) : answer;
  };
}

const staticCall = ['amd-smi', ...amdSmiStaticArgs].join(' ');
const metricCall = ['amd-smi', ...amdSmiMetricArgs].join(' ');
const rocmSmi = fixture('amd/rocm-smi-rx7900xt.json');
const linux = { platform: 'linux' as const, readText: async () => 'MemTotal: 1024 kB\n' };

describe('detectAccelerators with amd-smi', () => {
  it('prefers amd-smi and does not run rocm-smi when amd-smi works', async () => {
    const calls: string[] = [];
    const result = await detectAccelerators({
      ...linux,
      log: capturingLogger().log,
      run: fakeRun({ [staticCall]: rx6600Static, [metricCall]: rx6600Metric, 'rocm-smi': rocmSmi }, calls),
    });
    expect(result.devices).toEqual([
      {
        vendor: 'amd',
        kind: 'gpu',
        index: 0,
        name: 'Navi 23 [Radeon RX 6600/6600 XT',
        memoryBytes: 8176 * MIB,
        memoryUsedBytes: 202 * MIB,
        utilizationPercent: 1,
        busId: '0000:0b:00.0',
      },
    ]);
    expect(calls.filter((call) => call.startsWith('rocm-smi'))).toEqual([]);
    expect(result.tools.filter((tool) => tool.tool.endsWith('-smi') && tool.tool !== 'nvidia-smi')).toEqual([
      { tool: 'amd-smi', status: 'ok' },
      { tool: 'npu-smi', status: 'absent', reason: 'npu-smi not found on PATH' },
      { tool: 'hy-smi', status: 'absent', reason: 'hy-smi not found on PATH' },
    ]);
  });

  it('maps an MI300X market name to the catalog id', async () => {
    const mi300x = mi210Static.replace('AMD Instinct MI210', 'AMD Instinct MI300X');
    const result = await detectAccelerators({
      ...linux,
      log: capturingLogger().log,
      run: fakeRun({ [staticCall]: mi300x }),
    });
    expect(result.devices[0]).toMatchObject({ name: 'AMD Instinct MI300X', hardwareId: 'mi300x' });
    expect(result.tools.find((tool) => tool.tool === 'amd-smi')).toEqual({ tool: 'amd-smi', status: 'ok' });
  });

  it('falls back to rocm-smi when amd-smi is not installed', async () => {
    const { log, lines } = capturingLogger();
    const result = await detectAccelerators({ ...linux, log, run: fakeRun({ 'rocm-smi': rocmSmi }) });
    expect(result.devices).toHaveLength(1);
    expect(result.devices[0]).toMatchObject({ name: 'Radeon RX 7900 XT', memoryBytes: 21458059264 });
    expect(result.tools.slice(0, 3)).toEqual([
      { tool: 'nvidia-smi', status: 'absent', reason: 'nvidia-smi not found on PATH' },
      { tool: 'amd-smi', status: 'absent', reason: 'amd-smi not found on PATH' },
      { tool: 'rocm-smi', status: 'ok' },
    ]);
    expect(lines().find((entry) => entry['tool'] === 'amd-smi')).toMatchObject({
      level: 30,
      msg: 'accelerator tool not installed',
    });
  });

  it.each([
    [
      'exits non-zero',
      { exitCode: 255, stdout: '', stderr: 'AMDSMI_STATUS_INIT_ERROR', timedOut: false },
      /exited with 255/,
    ],
    ['times out', { exitCode: null, stdout: '', stderr: '', timedOut: true }, /timed out after 50 ms/],
    ['prints garbage', ok('Traceback (most recent call last):'), /unparseable output/],
  ] as const)('falls back to rocm-smi when amd-smi %s, with a warning', async (_label, answer, reason) => {
    const { log, lines } = capturingLogger();
    const result = await detectAccelerators({
      ...linux,
      log,
      timeoutMs: 50,
      run: fakeRun({ 'amd-smi': answer, 'rocm-smi': rocmSmi }),
    });
    expect(result.devices.map((device) => device.name)).toEqual(['Radeon RX 7900 XT']);
    const amd = result.tools.find((tool) => tool.tool === 'amd-smi');
    expect(amd?.status).toBe('failed');
    expect(amd?.reason).toMatch(reason);
    expect(result.tools.find((tool) => tool.tool === 'rocm-smi')).toEqual({ tool: 'rocm-smi', status: 'ok' });
    const line = lines().find((entry) => entry['tool'] === 'amd-smi');
    expect(line).toMatchObject({ level: 40, msg: 'accelerator tool failed; ignoring its devices' });
    expect(line?.['reason']).toMatch(reason);
  });

  it('is CPU only, with both tools logged, when neither amd-smi nor rocm-smi is installed', async () => {
    const { log, lines } = capturingLogger();
    const result = await detectAccelerators({ ...linux, log, run: fakeRun({}) });
    expect(result.devices).toEqual([]);
    expect(result.tools.map((tool) => `${tool.tool}:${tool.status}`)).toEqual([
      'nvidia-smi:absent',
      'amd-smi:absent',
      'rocm-smi:absent',
      'npu-smi:absent',
      'hy-smi:absent',
    ]);
    const notInstalled = lines().filter((entry) => entry['msg'] === 'accelerator tool not installed');
    expect(notInstalled.map((entry) => entry['tool'])).toEqual(
      expect.arrayContaining(['amd-smi', 'rocm-smi']),
    );
    expect(lines().some((entry) => entry['msg'] === 'no accelerators found; CPU only')).toBe(true);
  });

  it('is CPU only when both AMD tools fail', async () => {
    const broken: CommandResult = { exitCode: 1, stdout: '', stderr: 'no GPU', timedOut: false };
    const result = await detectAccelerators({
      ...linux,
      log: capturingLogger().log,
      run: fakeRun({ 'amd-smi': broken, 'rocm-smi': 'WARNING: No JSON data to report' }),
    });
    expect(result.devices).toEqual([]);
    expect(result.tools.filter((tool) => tool.status === 'failed').map((tool) => tool.tool)).toEqual([
      'amd-smi',
      'rocm-smi',
    ]);
  });
});
