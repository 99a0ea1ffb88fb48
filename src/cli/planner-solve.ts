import * as highsModule from 'highs';
import type { PlanModel } from '../planner/fleet/build-plan-lp.js';
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
  /** The LP relaxation's objective: no plan can cost less. */
  lowerBoundUsdPerHour: number;
  /** (objective − lower bound) ÷ objective: how far from optimal the plan can at most be. */
  gapToLowerBound: number;
  solveMs: number;
}

/**
 * Solves a plan MILP with HiGHS (wasm, offline): the MILP within a time limit, and its LP relaxation for a
 * lower bound, so that a plan cut short by the limit still says how good it is.
 */
export async function solvePlanModel(
  model: PlanModel,
  options: { timeLimitSeconds?: number; relativeGap?: number } = {},
): Promise<PlanSolution> {
  highs ??= highsLoader();
  const solver = await highs;
  const started = performance.now();
  const solution = solver.solve(model.lp, {
    time_limit: options.timeLimitSeconds ?? 6,
    mip_rel_gap: options.relativeGap ?? 0.01,
    output_flag: false,
  });
  const relaxed = solver.solve(model.lp.replace(/\nGeneral\n[\s\S]*?\nEnd/, '\nEnd'), { output_flag: false });
  const solveMs = performance.now() - started;
  if (solution.Status !== 'Optimal' && solution.Status !== 'Time limit reached') {
    throw new EdgeFleetError('internal_error', `the plan solver ended with status "${solution.Status}"`);
  }
  const columns = solution.Columns as Record<string, { Primal: number }>;
  if (Object.keys(columns).length === 0) {
    throw new EdgeFleetError(
      'internal_error',
      'the plan solver found no feasible plan within its time limit',
    );
  }
  const lowerBound = relaxed.Status === 'Optimal' ? relaxed.ObjectiveValue : Number.NaN;
  return {
    status: solution.Status,
    columns,
    objectiveUsdPerHour: solution.ObjectiveValue,
    lowerBoundUsdPerHour: lowerBound,
    gapToLowerBound:
      solution.ObjectiveValue > 0 ? (solution.ObjectiveValue - lowerBound) / solution.ObjectiveValue : 0,
    solveMs,
  };
}
