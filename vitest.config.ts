import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { configDefaults, defineConfig } from 'vitest/config';

/**
 * Three groups, one after the other:
 * - `in-process`: test files that run in one process and time nothing, two at a time;
 * - `system`: files that start real llama.cpp engines, servers and databases, two at a time (each mostly
 *   waits on its processes: run one at a time they kept about one of the 2 cores busy);
 * - `system-alone`: files that assert how long something took, measure speed, or hold something the whole
 *   machine shares (network namespaces at fixed addresses, the PostgreSQL server itself, a port a server
 *   restarts on), one at a time, so their timings stay honest and nothing else runs beside them.
 * A new file in one of the in-process directories runs in `in-process`: list it in `notInProcess` when it
 * starts a server or a process, or checks a duration. A new system file runs in `system`: list it in
 * `alone` when it checks a duration or a speed, or holds something shared.
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
const alone = [
  // durations, time limits and speeds
  /^src\/gateway\/fleet-gateway.*\.test\.ts$/,
  /^src\/gateway\/auth\/redis-rate-limiter\.test\.ts$/,
  /^src\/catalog\/gguf\/(read-gguf-header|make-model-llama)\.test\.ts$/,
  /^src\/engines\/embedded\/(text-generator|parallel-slots)\.test\.ts$/,
  /^src\/worker\/process-engine\/(process-engine-supervisor|engine-drain)\.test\.ts$/,
  /^test\/bench\//,
  /^test\/control\/(store-outage|model-resolver-remote)\.test\.ts$/,
  /^test\/e2e\/up-chat\.test\.ts$/,
  /^test\/faults\/(engine-drain|engine-kill|fuzz|redis-limiter-close|server-shutdown-stalled-store|stalled-engine)\.test\.ts$/,
  /^test\/fleet\/(instance-runner|worker-replace-in-place)\.test\.ts$/,
  /^test\/planner\/(memory-accuracy|plan-scale)\.test\.ts$/,
  /^test\/properties\//,
  /^test\/pull\.test\.ts$/,
  /^test\/security\/limits\.test\.ts$/,
  /^test\/store\/postgres-timeouts\.test\.ts$/,
  // network namespaces and link delays at fixed addresses (and the 3 s failover of the rooms test)
  /^test\/fleet\/(rooms|multi-site)\.test\.ts$/,
  /^test\/faults\/worker-and-room\.test\.ts$/,
  // stops and starts the PostgreSQL server every other PostgreSQL test uses
  /^test\/faults\/postgres-restart\.test\.ts$/,
  // restart a server on the port it had, which a file running beside could take meanwhile
  /^test\/faults\/control-plane-restart\.test\.ts$/,
  /^test\/fleet\/standalone-gateway\.test\.ts$/,
];
const root = fileURLToPath(new URL('.', import.meta.url));
const testFiles = (dir: string) =>
  readdirSync(`${root}${dir}`, { recursive: true, encoding: 'utf8' })
    .map((file) => `${dir}/${file}`)
    .filter((file) => file.endsWith('.test.ts'));
const inProcess = inProcessDirs
  .flatMap(testFiles)
  .filter((file) => !notInProcess.some((pattern) => pattern.test(file)));
const systemAlone = ['src', 'test']
  .flatMap(testFiles)
  .filter((file) => !inProcess.includes(file) && alone.some((pattern) => pattern.test(file)));

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
          exclude: [...configDefaults.exclude, ...inProcess, ...systemAlone],
          maxWorkers: 2,
          sequence: { groupOrder: 1 },
        },
      },
      {
        extends: true,
        test: {
          name: 'system-alone',
          include: systemAlone,
          fileParallelism: false,
          sequence: { groupOrder: 2 },
        },
      },
    ],
  },
});
