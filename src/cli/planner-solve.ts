import * as highsModule from 'highs';
import type { PlanModel } from '../planner/fleet/build-plan-lp.js';
import { greedyPlan } from '../planner/fleet/greedy-plan.js';
import type { PlanInput } from '../planner/fleet/plan-input.js';
import { EdgeFleetError } from '../spec/edgefleet-error.js';

type HighsLoader = typeof highsModule.default.default;
type Highs = Awaited<ReturnType<HighsLoader>>;
/** highs is CommonJS whose module.exports is the loader; its typings describe it as a default export. */
const highsLoader = highsModule.default as unknown as HighsLoader;
let highs: Promise<Highs> | undefined;

export interface PlanSolution {
  /** "Optimal" (within the relative gap) or "Time limit reached" (best plan found in time). */
  status: string;
  columns: Record<string, { Primal: number }>;
  objectiveUsdPerHour: number;
  /** What the solver proved no plan can cost less than (its dual bound). */
  lowerBoundUsdPerHour: number;
  /**
   * (objective − lower bound) ÷ objective, HiGHS's MIP gap: 0 is optimal; the plan costs at most
   * 1 ÷ (1 − gap) times the optimal plan. 1 where the solver has no lower bound yet (bound 0).
   */
  gapToLowerBound: number;
  /** What the greedy plan (`greedyPlan`) costs. */
  greedyUsdPerHour: number;
  /** Whose plan this is: the solver's, or the greedy one where the solver found none as cheap in time. */
  source: 'solver' | 'greedy';
  solveMs: number;
}

/**
 * Solves a plan MILP with HiGHS (wasm, offline) within a time limit, and builds a greedy plan beside it
 * (`greedyPlan`, milliseconds): where the limit cuts the solve short before it found a plan as cheap as the
 * greedy one (on a slow or busy machine), the greedy plan is returned. The solver's dual bound says how far
 * from optimal the returned plan can at most be. The greedy plan is not handed to HiGHS as its start: that
 * changed its search and made some fleets slower to solve (a 50-site fleet went from optimal in 1 s to 4%
 * from optimal at 6 s).
 */
export async function solvePlanModel(
  input: PlanInput,
  model: PlanModel,
  options: { timeLimitSeconds?: number; relativeGap?: number } = {},
): Promise<PlanSolution> {
  highs ??= highsLoader();
  const solver = await highs;
  const started = performance.now();
  const problem = solver.createModel({ format: 'lp', data: model.lp });
  try {
    problem.options.set({
      time_limit: options.timeLimitSeconds ?? 6,
      mip_rel_gap: options.relativeGap ?? 0.01,
      output_flag: false,
    });
    const names = Array.from({ length: problem.getDimensions().numCols }, (_, j) => problem.getColName(j));
    const greedy = greedyPlan(input, model);
    const greedyValues = names.map((name) => greedy.get(name) ?? 0);
    const costs = problem.getLp().colCost;
    const greedyUsdPerHour = greedyValues.reduce((sum, value, j) => sum + value * costs[j]!, 0);

    const { modelStatus } = problem.run();
    const { optimal, timeLimit } = solver.constants.modelStatus;
    const status =
      modelStatus === optimal ? 'Optimal' : modelStatus === timeLimit ? 'Time limit reached' : undefined;
    if (status === undefined) {
      const name = Object.entries(solver.constants.modelStatus).find(([, code]) => code === modelStatus)?.[0];
      throw new EdgeFleetError(
        'internal_error',
        `the plan solver ended with status "${name ?? modelStatus}"`,
      );
    }
    const solved = problem.info.get('primal_solution_status') === solver.constants.solutionStatus.feasible;
    const solverUsdPerHour = solved ? problem.getObjectiveValue() : Infinity;
    // Relative: the LP text carries 10 significant digits, so the same plan can cost a hair less greedily.
    const source = greedyUsdPerHour < solverUsdPerHour * (1 - 1e-6) ? 'greedy' : 'solver';
    const values = source === 'greedy' ? greedyValues : problem.getSolution().colValue;
    const objective = Math.min(greedyUsdPerHour, solverUsdPerHour);
    const columns: Record<string, { Primal: number }> = {};
    names.forEach((name, j) => (columns[name] = { Primal: values[j]! }));
    const isMip = model.instances.length + model.purchases.length > 0;
    // Every cost is ≥ 0, so 0 is a bound when the solver has none yet (the limit hit before its first LP).
    const dualBound = isMip ? Number(problem.info.get('mip_dual_bound')) : solverUsdPerHour;
    const lowerBound = Number.isFinite(dualBound) ? Math.min(objective, Math.max(0, dualBound)) : 0;
    return {
      status,
      columns,
      objectiveUsdPerHour: objective,
      lowerBoundUsdPerHour: lowerBound,
      gapToLowerBound: objective > 0 ? (objective - lowerBound) / objective : 0,
      greedyUsdPerHour,
      source,
      solveMs: performance.now() - started,
    };
  } finally {
    problem.dispose();
  }
}
