import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { configDefaults, defineConfig } from 'vitest/config';

/**
 * Test files that run in one process and time nothing run two at a time, before the rest. Everything else
 * starts real llama.cpp engines, servers and databases, or asserts how long something took; on 2 cores those
 * run one file at a time, so their timings stay honest. A new file in one of these directories runs two at a
 * time: list it in `notInProcess` when it starts a server or a process, or checks a duration.
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
  // engines, engine processes, llama.cpp builds
  /^src\/engines\//,
  /^src\/worker\/process-engine\//,
  /^src\/catalog\/gguf\/make-model-llama\.test\.ts$/,
  /^test\/planner\/memory-accuracy\.test\.ts$/,
  // real `edgefleet` processes
  /^test\/control\/(server-cli|node-revoke-cli)\.test\.ts$/,
  /^test\/telemetry\/closed-stderr\.test\.ts$/,
  // durations and time limits
  /^src\/gateway\/fleet-gateway.*\.test\.ts$/,
  /^src\/gateway\/auth\/redis-rate-limiter\.test\.ts$/,
  /^src\/catalog\/gguf\/read-gguf-header\.test\.ts$/,
  /^test\/control\/(store-outage|model-resolver-remote)\.test\.ts$/,
  /^test\/properties\/(config-files|gguf-header)\.property\.test\.ts$/,
  /^test\/planner\/plan-scale\.test\.ts$/,
];
const root = fileURLToPath(new URL('.', import.meta.url));
const inProcess = inProcessDirs.flatMap((dir) =>
  readdirSync(`${root}${dir}`, { recursive: true, encoding: 'utf8' })
    .map((file) => `${dir}/${file}`)
    .filter((file) => file.endsWith('.test.ts') && !notInProcess.some((pattern) => pattern.test(file))),
);

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
          exclude: [...configDefaults.exclude, ...inProcess],
          fileParallelism: false,
          sequence: { groupOrder: 1 },
        },
      },
    ],
  },
});
