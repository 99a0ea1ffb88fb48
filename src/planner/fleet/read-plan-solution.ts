import type { PlanModel } from './build-plan-lp.js';
import type { PlanInput } from './plan-input.js';

/** The fleet plan `edgefleet plan` prints. */
export interface FleetPlan {
  status: string;
  costPerHourUsd: number;
  powerWatts: number;
  sites: {
    site: string;
    region: string;
    instances: {
      model: string;
      engine: string;
      quant: string;
      hardware: string;
      devicesPerInstance: number;
      instances: number;
      capacityRequestsPerSecond: number;
    }[];
    buy: { hardware: string; devicesPerServer: number; servers: number }[];
    devicesUsed: number;
    devicesAvailable: number;
    servedRequestsPerSecond: number;
    /** Served ÷ capacity of the instances placed here. */
    utilization: number;
    powerWatts: number;
    costPerHourUsd: number;
  }[];
  regions: {
    region: string;
    demandRequestsPerSecond: number;
    servedRequestsPerSecond: number;
    unservedRequestsPerSecond: number;
    /** Share of requests served within the SLO (every planned flow meets it by construction). */
    sloAttainment: number;
    servedFrom: { site: string; model: string; requestsPerSecond: number }[];
    why: string[];
  }[];
}

const value = (columns: Record<string, { Primal: number }>, column: string): number =>
  columns[column]?.Primal ?? 0;
const round = (x: number): number => Math.round(x * 1000) / 1000;

/** Turns the solver's column values into the plan: placements, purchases, per-region service and why. */
export function readPlanSolution(
  input: PlanInput,
  model: PlanModel,
  status: string,
  columns: Record<string, { Primal: number }>,
): FleetPlan {
  let totalCost = 0;
  let totalPower = 0;
  const sites = input.sites.map((site) => {
    const groupIds = model.groups.flatMap((group, g) => (group.site === site.id ? [g] : []));
    const placed = model.instances
      .filter((i) => groupIds.includes(i.group))
      .map((i) => ({ ...i, count: Math.round(value(columns, i.column)) }))
      .filter((i) => i.count > 0);
    const bought = model.purchases
      .filter((p) => groupIds.includes(p.group))
      .map((p) => ({ group: model.groups[p.group]!, servers: Math.round(value(columns, p.column)) }))
      .filter((p) => p.servers > 0);
    const served = model.flows
      .filter((f) => f.site === site.id)
      .reduce((sum, f) => sum + value(columns, f.column), 0);
    const capacity = placed.reduce((sum, i) => sum + i.count * i.config.capacityRequestsPerSecond, 0);
    const devicesUsed = placed.reduce((sum, i) => sum + i.count * i.config.devicesPerInstance, 0);
    const devicesAvailable = groupIds.reduce((sum, g) => {
      const group = model.groups[g]!;
      return sum + group.existingServers * group.devicesPerServer;
    }, 0);
    const powerWatts = placed.reduce((sum, i) => sum + i.count * i.config.powerWatts, 0);
    const cost =
      placed.reduce(
        (sum, i) =>
          sum + i.count * i.config.devicesPerInstance * model.groups[i.group]!.devicePricePerHourUsd,
        0,
      ) + bought.reduce((sum, p) => sum + p.servers * p.group.buyPricePerServerHourUsd, 0);
    totalCost += cost;
    totalPower += powerWatts;
    return {
      site: site.id,
      region: site.region,
      instances: placed.map((i) => ({
        model: i.config.model,
        engine: i.config.engine,
        quant: i.config.quant,
        hardware: i.config.hardware,
        devicesPerInstance: i.config.devicesPerInstance,
        instances: i.count,
        capacityRequestsPerSecond: round(i.config.capacityRequestsPerSecond),
      })),
      buy: bought.map((p) => ({
        hardware: p.group.hardware,
        devicesPerServer: p.group.devicesPerServer,
        servers: p.servers,
      })),
      devicesUsed,
      devicesAvailable:
        devicesAvailable + bought.reduce((sum, p) => sum + p.servers * p.group.devicesPerServer, 0),
      servedRequestsPerSecond: round(served),
      utilization: capacity > 0 ? round(served / capacity) : 0,
      powerWatts,
      costPerHourUsd: round(cost),
    };
  });
  const regions = input.demand.map((demand, d) => {
    const servedFrom = model.flows
      .filter((f) => f.demand === d)
      .map((f) => ({ site: f.site, model: f.model, requestsPerSecond: round(value(columns, f.column)) }))
      .filter((f) => f.requestsPerSecond > 0);
    const unserved = value(columns, model.unserved[d]!.column);
    const why: string[] = [];
    if (unserved > 1e-6) {
      const models = model.demandModels[d] ?? [];
      const blocked = models.filter((m) => model.unservable.has(m));
      if (blocked.length === models.length) {
        why.push(`no server type can run ${models.join(', ') || 'any model of that size'} within the SLO`);
      } else if (!model.flows.some((f) => f.demand === d)) {
        why.push(
          `no site in ${[demand.region, ...demand.alsoServedFrom].join(', ')} has servers that can run it`,
        );
      } else {
        why.push('not enough devices, power or purchase budget at the sites allowed to serve it');
      }
    }
    return {
      region: demand.region,
      demandRequestsPerSecond: demand.requestsPerSecond,
      servedRequestsPerSecond: round(demand.requestsPerSecond - unserved),
      unservedRequestsPerSecond: round(unserved),
      sloAttainment: demand.requestsPerSecond > 0 ? round(1 - unserved / demand.requestsPerSecond) : 1,
      servedFrom,
      why,
    };
  });
  return { status, costPerHourUsd: round(totalCost), powerWatts: totalPower, sites, regions };
}
