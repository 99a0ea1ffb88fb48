import { readFileSync } from 'node:fs';
import os from 'node:os';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import type { CommandResult, RunCommand } from './accelerator-device.js';
import { MIB } from './accelerator-device.js';
import { detectAccelerators } from './detect-accelerators.js';

function fixture(path: string): string {
  return readFileSync(new URL(`../../../test/fixtures/accelerators/${path}`, import.meta.url), 'utf8');
}

/** A logger that keeps its JSON lines, so tests can assert what was logged. */
function capturingLogger(): { log: pino.Logger; lines: () => Array<Record<string, unknown>> } {
  const chunks: string[] = [];
  const log = pino({ level: 'debug' }, { write: (chunk: string) => void chunks.push(chunk) });
  return { log, lines: () => chunks.map((chunk) => JSON.parse(chunk) as Record<string, unknown>) };
}

const ok = (stdout: string): CommandResult => ({ exitCode: 0, stdout, stderr: '', timedOut: false });
const enoent = (cmd: string): Error => Object.assign(new Error(`spawn ${cmd} ENOENT`), { code: 'ENOENT' });

/** Replays fixtures: `answers[cmd]` is stdout, a CommandResult, or an Error to reject with. Others are absent. */
function fakeRun(answers: Record<string, string | CommandResult | Error>): RunCommand {
  return async (cmd, args) => {
    const answer = answers[[cmd, ...args].join(' ')] ?? answers[cmd];
    if (answer === undefined) throw enoent(cmd);
    if (answer instanceof Error) throw answer;
    return typeof answer === 'string' ? ok(answer) : answer;
  };
}

const linux = {
  platform: 'linux' as const,
  readText: async (path: string) =>
    fixture(`cpu/this-ci-box-${path.endsWith('cpuinfo') ? 'cpuinfo' : 'meminfo'}.txt`),
};

describe('detectAccelerators with captured outputs', () => {
  it('merges an NVIDIA, an Ascend and a Hygon box into one list with catalog ids', async () => {
    const { log } = capturingLogger();
    const result = await detectAccelerators({
      ...linux,
      log,
      run: fakeRun({
        'nvidia-smi': fixture('nvidia/rtx4090x8-query.csv'),
        'npu-smi': fixture('ascend/910b3x8-npu-smi-info.txt'),
        'hy-smi': fixture('hygon/k100-ai-x8-hy-smi.txt'),
        'hy-smi --showmemavailable': fixture('hygon/k100-ai-x8-hy-smi-showmemavailable.txt'),
        'hy-smi --showproductname': fixture('hygon/k100-ai-x8-hy-smi-a-excerpt.txt'),
      }),
    });
    expect(result.devices).toHaveLength(24);
    expect(result.devices.filter((d) => d.hardwareId === 'rtx-4090')).toHaveLength(8);
    expect(result.devices.filter((d) => d.hardwareId === 'ascend-910b')).toHaveLength(8);
    expect(
      result.devices.filter((d) => d.hardwareId === 'hygon-k100' && d.memoryBytes === 65438 * MIB),
    ).toHaveLength(8);
    expect(result.tools).toEqual([
      { tool: 'nvidia-smi', status: 'ok' },
      { tool: 'amd-smi', status: 'absent', reason: 'amd-smi not found on PATH' },
      { tool: 'rocm-smi', status: 'absent', reason: 'rocm-smi not found on PATH' },
      { tool: 'npu-smi', status: 'ok' },
      { tool: 'hy-smi', status: 'ok' },
    ]);
    expect(result.cpu).toEqual({
      model: 'Intel(R) Xeon(R) Processor',
      cores: os.availableParallelism(),
      memoryBytes: 24683656 * 1024,
    });
  });

  it('reports an AMD card without a catalog id when its name is not in the catalog', async () => {
    const result = await detectAccelerators({
      ...linux,
      log: capturingLogger().log,
      run: fakeRun({ 'rocm-smi': fixture('amd/rocm-smi-rx7900xt.json') }),
    });
    expect(result.devices).toHaveLength(1);
    expect(result.devices[0]).toMatchObject({
      vendor: 'amd',
      name: 'Radeon RX 7900 XT',
      memoryBytes: 21458059264,
    });
    expect(result.devices[0]?.hardwareId).toBeUndefined();
  });

  it('keeps the Hygon cards when the optional hy-smi queries fail', async () => {
    const failing: CommandResult = {
      exitCode: 2,
      stdout: '',
      stderr: 'unrecognized arguments',
      timedOut: false,
    };
    const result = await detectAccelerators({
      ...linux,
      log: capturingLogger().log,
      run: fakeRun({
        'hy-smi': fixture('hygon/k100-ai-x8-hy-smi.txt'),
        'hy-smi --showmemavailable': failing,
        'hy-smi --showproductname': failing,
      }),
    });
    expect(result.devices).toHaveLength(8);
    expect(result.devices[0]).toMatchObject({ name: 'Hygon DCU', memoryBytes: 0 });
  });

  it('runs only sysctl on macOS and maps the Apple chip', async () => {
    const calls: string[] = [];
    const run: RunCommand = async (cmd) => {
      calls.push(cmd);
      return ok(`machdep.cpu.brand_string: Apple M3 Max\n${fixture('apple/m3-max-sysctl-hw.txt')}`);
    };
    const result = await detectAccelerators({ platform: 'darwin', run, log: capturingLogger().log });
    expect(calls).toEqual(['sysctl']);
    expect(result.devices).toEqual([
      {
        vendor: 'apple',
        kind: 'apple',
        index: 0,
        name: 'Apple M3 Max',
        memoryBytes: 137438953472,
        hardwareId: 'apple-m3-max',
      },
    ]);
    expect(result.tools).toEqual([{ tool: 'sysctl', status: 'ok' }]);
  });
});

describe('detectAccelerators degrades to CPU only', () => {
  const cases: Array<[string, string | CommandResult | Error, RegExp]> = [
    ['a missing tool', enoent('nvidia-smi'), /not found on PATH/],
    [
      'exit status 9 (no driver)',
      {
        exitCode: 9,
        stdout: "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver.",
        stderr: '',
        timedOut: false,
      },
      /exited with 9: NVIDIA-SMI has failed/,
    ],
    ['a timeout', { exitCode: null, stdout: '', stderr: '', timedOut: true }, /timed out after 50 ms/],
    ['garbage output', 'Segmentation fault (core dumped)', /unparseable output/],
    [
      'a tool that cannot start',
      Object.assign(new Error('spawn nvidia-smi EACCES'), { code: 'EACCES' }),
      /could not start nvidia-smi/,
    ],
  ];

  it.each(cases)('after %s, with a log line naming the tool and reason', async (_label, answer, reason) => {
    const { log, lines } = capturingLogger();
    const result = await detectAccelerators({
      ...linux,
      log,
      timeoutMs: 50,
      run: fakeRun({ 'nvidia-smi': answer }),
    });
    expect(result.devices).toEqual([]);
    expect(result.cpu.cores).toBe(os.availableParallelism());
    const report = result.tools.find((tool) => tool.tool === 'nvidia-smi');
    expect(report?.status).toBe(
      answer instanceof Error && (answer as { code?: string }).code === 'ENOENT' ? 'absent' : 'failed',
    );
    expect(report?.reason).toMatch(reason);
    const line = lines().find((entry) => entry['tool'] === 'nvidia-smi');
    expect(line?.['reason']).toMatch(reason);
    expect(line?.['level']).toBe(report?.status === 'absent' ? 30 : 40);
  });

  it('falls back to node:os when /proc cannot be read', async () => {
    const result = await detectAccelerators({
      platform: 'linux',
      log: capturingLogger().log,
      run: fakeRun({}),
      readText: async () => {
        throw new Error('EACCES');
      },
    });
    expect(result.cpu).toEqual({
      model: os.cpus()[0]?.model.trim(),
      cores: os.availableParallelism(),
      memoryBytes: os.totalmem(),
    });
  });
});

describe('detectAccelerators on this machine', () => {
  it('finds no accelerators and reports the CPU with the usable core count', async () => {
    const { log, lines } = capturingLogger();
    const result = await detectAccelerators({ log });
    expect(result.devices).toEqual([]);
    expect(result.cpu.cores).toBe(os.availableParallelism());
    expect(result.cpu.memoryBytes).toBeGreaterThan(0);
    expect(result.cpu.model).not.toBe('');
    expect(result.tools.every((tool) => tool.status !== 'ok' || tool.tool === 'sysctl')).toBe(true);
    expect(lines().some((entry) => entry['msg'] === 'no accelerators found; CPU only')).toBe(true);
  });
});
