#!/usr/bin/env node
// Plan time against fleet size: N sites × 5 server types × 4 candidate models, one region per 10 sites.
//   npm run build && node bench/plan/run.mjs [--time-limit S] [sizes...]   (default sizes: 10 50 100 200; limit 6 s)
// A shorter limit shows what a slower machine gets within the default one.
// Prints a markdown table; the numbers in docs/planner.md come from this script.
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const { planInputSchema } = await import(join(root, 'dist/planner/fleet/plan-input.js'));
const { buildPlanModel } = await import(join(root, 'dist/planner/fleet/build-plan-lp.js'));
const { readPlanSolution } = await import(join(root, 'dist/planner/fleet/read-plan-solution.js'));
const { solvePlanModel } = await import(join(root, 'dist/cli/planner-solve.js'));

const hardware = ['h20', 'l20', 'rtx-4090', 'ascend-910b', 'a800-80gb'];
const models = [
  'deepseek-r1-distill-qwen-7b',
  'deepseek-r1-distill-qwen-14b',
  'deepseek-r1-distill-qwen-32b',
  'qwen2.5-72b',
];

/** A deterministic pseudo-random fleet (mulberry32). */
function fleet(siteCount) {
  let state = siteCount * 7919;
  const random = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const regions = Math.max(1, Math.round(siteCount / 10));
  const sites = Array.from({ length: siteCount }, (_, i) => ({
    id: `site-${i}`,
    region: `region-${i % regions}`,
    powerLimitWatts: 20000 + Math.round(random() * 20000),
    servers: hardware.map((hw) => ({ hardware: hw, count: Math.floor(random() * 3), devicesPerServer: 8 })),
    buy: [{ hardware: hardware[i % hardware.length], devicesPerServer: 8, maxServers: 2 }],
  }));
  const demand = Array.from({ length: regions }, (_, r) => [
    { region: `region-${r}`, requestsPerSecond: 5 + random() * 40, model: models[r % 4], sloTpotMs: 60 },
    {
      region: `region-${r}`,
      requestsPerSecond: 2 + random() * 10,
      minModelParamsB: 14,
      sloTpotMs: 80,
      alsoServedFrom: [`region-${(r + 1) % regions}`],
    },
  ]).flat();
  return planInputSchema.parse({ sites, demand, models });
}

const args = process.argv.slice(2);
const limitAt = args.indexOf('--time-limit');
const timeLimitSeconds = limitAt >= 0 ? Number(args.splice(limitAt, 2)[1]) : undefined;
if (timeLimitSeconds !== undefined && !(timeLimitSeconds > 0)) {
  console.error('--time-limit needs a number of seconds above 0');
  process.exit(2);
}
const sizes = args.map(Number);
console.log(
  '| Sites | Servers (groups) | Integer vars | Flow vars | Build ms | Solve ms | Status | Gap to lower bound | Greedy $/h | Plan from | Unserved req/s | $/h |',
);
console.log('|---:|---:|---:|---:|---:|---:|---|---:|---:|---|---:|---:|');
for (const size of sizes.length ? sizes : [10, 50, 100, 200]) {
  const input = fleet(size);
  const started = performance.now();
  const model = buildPlanModel(input);
  const buildMs = performance.now() - started;
  const solved = await solvePlanModel(input, model, { timeLimitSeconds });
  const { status, columns, solveMs } = solved;
  const plan = readPlanSolution(input, model, status, columns);
  const unserved = plan.regions.reduce((sum, r) => sum + r.unservedRequestsPerSecond, 0);
  console.log(
    `| ${size} | ${model.groups.length} | ${model.instances.length + model.purchases.length} | ${model.flows.length} | ${buildMs.toFixed(0)} | ${solveMs.toFixed(0)} | ${status} | ${(solved.gapToLowerBound * 100).toFixed(1)}% | ${solved.greedyUsdPerHour.toFixed(0)} | ${solved.source} | ${unserved.toFixed(1)} | ${plan.costPerHourUsd.toFixed(0)} |`,
  );
}
