import { readdirSync } from 'node:fs';
import { defineConfig } from 'vitest/config';

/**
 * Test files that run in one process, start no engine and time nothing run two at a time, before the rest.
 * Everything else starts real llama.cpp engines, servers and databases, or checks timing; on 2 cores those
 * run one file at a time, so their timings stay honest. A new directory runs one file at a time until it is
 * listed here.
 */
const inProcessDirs = [
  'src',
  'test/control',
  'test/planner',
  'test/properties',
  'test/telemetry',
  'test/bench-report',
];
const notInProcess = [
  /^src\/engines\//,
  /^src\/gateway\/fleet-gateway.*\.test\.ts$/,
  /^src\/worker\/process-engine\//,
  /^src\/catalog\/gguf\/make-model-llama\.test\.ts$/,
  /^test\/planner\/(plan-scale|memory-accuracy)\.test\.ts$/,
];
const inProcess = [
  'test/pull.test.ts',
  ...inProcessDirs.flatMap((dir) =>
    readdirSync(dir, { recursive: true, encoding: 'utf8' })
      .map((file) => `${dir}/${file}`)
      .filter((file) => file.endsWith('.test.ts') && !notInProcess.some((pattern) => pattern.test(file))),
  ),
];

export default defineConfig({
  test: {
    testTimeout: 60_000,
    hookTimeout: 120_000,
    reporters: ['default'],
    projects: [
      {
        extends: true,
        test: { name: 'in-process', include: inProcess, maxWorkers: 2, sequence: { groupOrder: 0 } },
      },
      {
        extends: true,
        test: {
          name: 'system',
          include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
          exclude: inProcess,
          fileParallelism: false,
          sequence: { groupOrder: 1 },
        },
      },
    ],
  },
});
