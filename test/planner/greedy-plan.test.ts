import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as highsModule from 'highs';
import { describe, expect, test } from 'vitest';
import { readPlanInput } from '../../src/cli/plan.js';
import { solvePlanModel } from '../../src/cli/planner-solve.js';
import { buildPlanModel } from '../../src/planner/fleet/build-plan-lp.js';
import { greedyPlan } from '../../src/planner/fleet/greedy-plan.js';
import { planInputSchema, type PlanInput } from '../../src/planner/fleet/plan-input.js';
import { readPlanSolution } from '../../src/planner/fleet/read-plan-solution.js';
import { fleet } from './fleet-fixture.js';

type HighsLoader = typeof highsModule.default.default;
const loadHighs = highsModule.default as unknown as HighsLoader;
const example = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'bench', 'plan', 'example.yaml');

/**
 * Checks a plan against the MILP itself: every column fixed to the plan's value, HiGHS must find that point
 * feasible (every demand, capacity, device and power row) and cost what the plan says.
 */
async function checkAgainstModel(input: PlanInput) {
  const model = buildPlanModel(input);
  const values = greedyPlan(input, model);
  const highs = await loadHighs();
  const problem = highs.createModel({ format: 'lp', data: model.lp });
  try {
    problem.options.set({ output_flag: false });
    const n = problem.getDimensions().numCols;
    const fixed = Array.from({ length: n }, (_, j) => values.get(problem.getColName(j)) ?? 0);
    problem.changeColsBounds({ kind: 'range', from: 0, to: n - 1 }, fixed, fixed);
    const { modelStatus } = problem.run();
    expect(modelStatus).toBe(highs.constants.modelStatus.optimal);
    const unserved = model.unserved.reduce((sum, u) => sum + values.get(u.column)!, 0);
    return { cost: problem.getObjectiveValue(), unserved, model };
  } finally {
    problem.dispose();
  }
}

const demanded = (input: PlanInput) => input.demand.reduce((sum, d) => sum + d.requestsPerSecond, 0);

describe('the greedy plan', () => {
  test.each([10, 50, 200])('is feasible for a %i-site fleet and serves every request', async (sites) => {
    const input = fleet(sites);
    const { cost, unserved } = await checkAgainstModel(input);
    expect(unserved).toBeCloseTo(0, 6);
    expect(cost).toBeGreaterThan(0);
  });

  test('under tight power limits serves what fits and leaves the rest unserved, still feasible', async () => {
    const input = fleet(50, 0.02);
    const { unserved } = await checkAgainstModel(input);
    expect(unserved).toBeGreaterThan(0);
    expect(unserved).toBeLessThan(demanded(input));
  });

  test('buys servers when a site has none, and is feasible for the example plan', async () => {
    const buying = planInputSchema.parse({
      sites: [{ id: 'a', region: 'r', buy: [{ hardware: 'h20', maxServers: 1 }] }],
      demand: [{ region: 'r', requestsPerSecond: 2, model: 'deepseek-r1-distill-qwen-14b', sloTpotMs: 50 }],
    });
    const bought = await checkAgainstModel(buying);
    expect(bought.unserved).toBeCloseTo(0, 6);
    const values = greedyPlan(buying, bought.model);
    expect(values.get(bought.model.purchases[0]!.column)).toBe(1);
    const fromExample = await checkAgainstModel(await readPlanInput(example));
    expect(fromExample.unserved).toBeCloseTo(0, 6);
  });

  test('is what a solve cut short before it found as good a plan returns', async () => {
    const input = fleet(200);
    const model = buildPlanModel(input);
    const solved = await solvePlanModel(input, model, { timeLimitSeconds: 0.2 });
    expect(solved.status).toBe('Time limit reached');
    expect(solved.source).toBe('greedy');
    const { cost } = await checkAgainstModel(input);
    expect(solved.greedyUsdPerHour).toBeCloseTo(cost, 6);
    expect(solved.objectiveUsdPerHour).toBeCloseTo(cost, 6);
    const plan = readPlanSolution(input, model, solved.status, solved.columns);
    expect(plan.costPerHourUsd).toBeCloseTo(cost, 6);
    for (const region of plan.regions) expect(region.unservedRequestsPerSecond).toBeCloseTo(0, 6);
    expect(solved.gapToLowerBound).toBeGreaterThanOrEqual(0);
  });
});
