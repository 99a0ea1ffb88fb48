import { parse as parseYaml } from 'yaml';
import { buildPlanModel } from '../planner/fleet/build-plan-lp.js';
import { planInputSchema } from '../planner/fleet/plan-input.js';
import { readPlanSolution, type FleetPlan } from '../planner/fleet/read-plan-solution.js';
import { EdgeFleetError } from '../spec/edgefleet-error.js';
import { parseFlags, readFlagFile } from './parse-flags.js';
import { commandError, formatNumber, formatTable, formatUsd } from './planner-format.js';
import { solvePlanModel } from './planner-solve.js';

const HELP = `usage: edgefleet plan --input FILE [--json]

Plans a fleet across sites: which model instances to run on which servers in which site, what to buy
where, utilization and SLO attainment per region, cost and power, unserved demand and why. FILE is YAML or
JSON (schema in docs/planner.md). Solved as a MILP with HiGHS.

  --input FILE  sites (region, servers, power limit, what may be bought) and regional demand
  --json        print the plan as JSON
`;

/** Reads a plan input file: YAML or JSON, validated strictly. */
export async function readPlanInput(path: string) {
  const text = await readFlagFile(path, 'input');
  let data: unknown;
  try {
    data = /\.json$/i.test(path) ? JSON.parse(text) : parseYaml(text);
  } catch (error) {
    throw new EdgeFleetError(
      'invalid_argument',
      `--input: ${path} does not parse: ${(error as Error).message}`,
    );
  }
  const parsed = planInputSchema.safeParse(data);
  if (!parsed.success) {
    const problems = parsed.error.issues.map(
      (issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`,
    );
    throw new EdgeFleetError('invalid_argument', `--input ${path}: ${problems.join('; ')}`, {
      data: { problems },
    });
  }
  return parsed.data;
}

/** What a MIP gap, (cost − lower bound) ÷ cost, says about the plan against the optimal one. */
function dearerThanOptimal(gap: number): string {
  if (gap >= 1) return 'the solver had no lower bound yet';
  return `at most ${((100 * gap) / (1 - gap)).toFixed(1)}% dearer than optimal`;
}

export function formatPlan(
  plan: FleetPlan,
  solver: { solveMs: number; gapToLowerBound: number; source: 'solver' | 'greedy' },
): string {
  const placements = [
    ['SITE', 'MODEL', 'ENGINE', 'QUANT', 'HARDWARE', 'INSTANCES', 'REQ/S EACH'],
    ...plan.sites.flatMap((site) =>
      site.instances.map((i) => [
        site.site,
        i.model,
        i.engine,
        i.quant,
        `${i.devicesPerInstance}× ${i.hardware}`,
        String(i.instances),
        formatNumber(i.capacityRequestsPerSecond),
      ]),
    ),
  ];
  const buys = plan.sites.flatMap((site) =>
    site.buy.map((b) => `  ${site.site}: ${b.servers} × ${b.devicesPerServer}× ${b.hardware}`),
  );
  const sites = [
    ['SITE', 'REGION', 'DEVICES', 'REQ/S', 'UTILIZATION', 'POWER W', '$/H'],
    ...plan.sites.map((s) => [
      s.site,
      s.region,
      `${s.devicesUsed}/${s.devicesAvailable}`,
      formatNumber(s.servedRequestsPerSecond),
      `${(s.utilization * 100).toFixed(0)}%`,
      String(Math.round(s.powerWatts)),
      formatUsd(s.costPerHourUsd),
    ]),
  ];
  const regions = [
    ['REGION', 'DEMAND REQ/S', 'SERVED', 'UNSERVED', 'SLO ATTAINMENT', 'WHY'],
    ...plan.regions.map((r) => [
      r.region,
      formatNumber(r.demandRequestsPerSecond),
      formatNumber(r.servedRequestsPerSecond),
      formatNumber(r.unservedRequestsPerSecond),
      `${(r.sloAttainment * 100).toFixed(1)}%`,
      r.why.join('; '),
    ]),
  ];
  return [
    `plan: ${plan.status}, ${formatUsd(plan.costPerHourUsd)}/h, ${Math.round(plan.powerWatts)} W, solved in ${solver.solveMs} ms` +
      (plan.status === 'Optimal'
        ? ' (optimal within 1%)'
        : ` (${solver.source === 'greedy' ? 'the greedy plan: the solver found none as cheap in time' : 'best found in time'}; ${dearerThanOptimal(solver.gapToLowerBound)})`),
    '',
    formatTable(placements),
    '',
    buys.length ? `buy:\n${buys.join('\n')}` : 'buy: nothing',
    '',
    formatTable(sites),
    '',
    formatTable(regions),
    '',
  ].join('\n');
}

/** `edgefleet plan --input FILE [--json]`: a fleet plan across sites. */
export async function run(args: string[]): Promise<number> {
  try {
    const { values } = parseFlags(args, {
      input: { type: 'string' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    });
    if (values.help) {
      process.stdout.write(HELP);
      return 0;
    }
    if (values.input === undefined) throw new EdgeFleetError('invalid_argument', '--input FILE is required');
    const input = await readPlanInput(values.input);
    const model = buildPlanModel(input);
    const solved = await solvePlanModel(input, model);
    const plan = readPlanSolution(input, model, solved.status, solved.columns);
    const solver = {
      solveMs: Math.round(solved.solveMs),
      lowerBoundUsdPerHour: solved.lowerBoundUsdPerHour,
      gapToLowerBound: solved.gapToLowerBound,
      greedyUsdPerHour: solved.greedyUsdPerHour,
      source: solved.source,
    };
    process.stdout.write(
      values.json ? `${JSON.stringify({ ...plan, solver }, null, 2)}\n` : formatPlan(plan, solver),
    );
    return 0;
  } catch (error) {
    const { text, code } = commandError('plan', error, HELP);
    process.stderr.write(text);
    return code;
  }
}
