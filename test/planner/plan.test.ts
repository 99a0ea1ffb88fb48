import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, test } from 'vitest';
import { run } from '../../src/cli/plan.js';
import { solvePlanModel } from '../../src/cli/planner-solve.js';
import { buildPlanModel } from '../../src/planner/fleet/build-plan-lp.js';
import { planInputSchema } from '../../src/planner/fleet/plan-input.js';
import { readPlanSolution, type FleetPlan } from '../../src/planner/fleet/read-plan-solution.js';
import { runCli } from './cli-harness.js';

const example = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'bench', 'plan', 'example.yaml');
let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'edgefleet-plan-'));
});

async function plan(input: unknown): Promise<FleetPlan> {
  const parsed = planInputSchema.parse(input);
  const model = buildPlanModel(parsed);
  const solved = await solvePlanModel(parsed, model);
  return readPlanSolution(parsed, model, solved.status, solved.columns);
}

describe('edgefleet plan', () => {
  test('the example plan serves every region within the SLO, within devices, power and utilization', async () => {
    const { code, stdout } = await runCli(run, ['--input', example, '--json']);
    expect(code).toBe(0);
    const result = JSON.parse(stdout) as FleetPlan & { solver: { solveMs: number } };
    expect(result.status).toBe('Optimal');
    for (const region of result.regions) expect(region.sloAttainment).toBe(1);
    for (const site of result.sites) {
      expect(site.devicesUsed).toBeLessThanOrEqual(site.devicesAvailable);
      expect(site.utilization).toBeLessThanOrEqual(0.8 + 1e-6);
    }
    const beijing = result.sites.find((site) => site.site === 'beijing-1')!;
    expect(beijing.powerWatts).toBeLessThanOrEqual(12000);
    expect(result.costPerHourUsd).toBeGreaterThan(0);
    const table = await runCli(run, ['--input', example]);
    expect(table.stdout).toMatch(/^plan: Optimal/);
    expect(table.stdout).toMatch(/REGION\s+DEMAND REQ\/S\s+SERVED/);
  });

  test('buys servers when the existing ones are not enough, and says why demand goes unserved', async () => {
    const result = await plan({
      sites: [
        { id: 'a', region: 'r', servers: [], buy: [{ hardware: 'h20', maxServers: 1 }] },
        { id: 'b', region: 'far', servers: [{ hardware: 'h200', count: 1 }] },
      ],
      demand: [
        { region: 'r', requestsPerSecond: 2, model: 'deepseek-r1-distill-qwen-14b', sloTpotMs: 50 },
        { region: 'r', requestsPerSecond: 1, model: 'deepseek-r1', sloTpotMs: 5 },
      ],
    });
    expect(plan).toBeDefined();
    expect(result.sites[0]!.buy).toEqual([{ hardware: 'h20', devicesPerServer: 8, servers: 1 }]);
    expect(result.regions[0]!.sloAttainment).toBe(1);
    expect(result.regions[1]!.unservedRequestsPerSecond).toBe(1);
    expect(result.regions[1]!.why.join(' ')).toMatch(/within the SLO|no site/);
  });

  test('a power limit caps what a site runs', async () => {
    const result = await plan({
      sites: [{ id: 'a', region: 'r', powerLimitWatts: 900, servers: [{ hardware: 'rtx-4090', count: 1 }] }],
      demand: [{ region: 'r', requestsPerSecond: 1000, model: 'llama-3.1-8b' }],
    });
    expect(result.sites[0]!.powerWatts).toBeLessThanOrEqual(900);
    expect(result.regions[0]!.unservedRequestsPerSecond).toBeGreaterThan(0);
    expect(result.regions[0]!.why.join(' ')).toMatch(/not enough devices, power/);
  });

  test('bad input files give clear errors', async () => {
    const cases: [string, string, RegExp][] = [
      ['bad.yaml', 'sites: [\n  - id: a\n  region', /does not parse/],
      [
        'extra.json',
        JSON.stringify({ sites: [], demand: [], surprise: 1 }),
        /sites: .*>=1|Unrecognized key.*surprise/,
      ],
      [
        'both.yaml',
        'sites: [{id: a, region: r}]\ndemand: [{region: r, requestsPerSecond: 1, model: llama-3.1-8b, minModelParamsB: 7}]',
        /exactly one of model or minModelParamsB/,
      ],
      [
        'hw.yaml',
        'sites: [{id: a, region: r, servers: [{hardware: b300, count: 1}]}]\ndemand: [{region: r, requestsPerSecond: 1, model: llama-3.1-8b}]',
        /unknown hardware "b300"; valid ids: .*h200/,
      ],
      [
        'twice.yaml',
        'sites: [{id: a, region: r, powerLimitWatts: 500}, {id: a, region: r, powerLimitWatts: 100000}]\ndemand: [{region: r, requestsPerSecond: 1, model: llama-3.1-8b}]',
        /sites\.1\.id: site id "a" appears twice/,
      ],
    ];
    for (const [name, text, message] of cases) {
      const path = join(dir, name);
      await writeFile(path, text);
      const result = await runCli(run, ['--input', path]);
      expect(result.code, name).toBe(2);
      expect(result.stderr, name).toMatch(message);
    }
    expect((await runCli(run, [])).stderr).toMatch(/--input FILE is required/);
  });
});
