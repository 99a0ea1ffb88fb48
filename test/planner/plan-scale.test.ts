import { expect, test } from 'vitest';
import { solvePlanModel } from '../../src/cli/planner-solve.js';
import { buildPlanModel } from '../../src/planner/fleet/build-plan-lp.js';
import { readPlanSolution } from '../../src/planner/fleet/read-plan-solution.js';
import { fleet } from './fleet-fixture.js';

// The solver's 6 s limit is wall-clock: on a 2-core machine a 200-site solve within it found either a good
// plan (gap 0.09–0.11) or only its first plans (0.94–0.98), about half the time each (2026-11-30). Where it
// finds nothing as cheap as the greedy plan, the greedy plan is returned, so the result is good either way.
test('a 200-site × 5-server × 4-model fleet plans in under 10 s', { timeout: 30_000 }, async () => {
  const started = performance.now();
  const input = fleet(200);
  const model = buildPlanModel(input);
  const solved = await solvePlanModel(input, model);
  const plan = readPlanSolution(input, model, solved.status, solved.columns);
  const elapsedMs = performance.now() - started;
  expect(elapsedMs).toBeLessThan(10_000);
  expect(model.instances.length).toBeGreaterThanOrEqual(200 * 5 * 3);
  expect(plan.regions).toHaveLength(40);
  for (const region of plan.regions) {
    expect(region.servedRequestsPerSecond + region.unservedRequestsPerSecond).toBeCloseTo(
      region.demandRequestsPerSecond,
      2,
    );
  }
  expect(plan.regions.reduce((sum, region) => sum + region.unservedRequestsPerSecond, 0)).toBeCloseTo(0, 6);
  expect(solved.objectiveUsdPerHour).toBeLessThanOrEqual(solved.greedyUsdPerHour + 1e-6);
  // The greedy plan alone is within 20% of what the solver proves no plan can beat (~10% measured).
  expect(solved.greedyUsdPerHour * 0.8).toBeLessThan(solved.lowerBoundUsdPerHour);
  expect(solved.gapToLowerBound).toBeLessThan(0.2);
});
