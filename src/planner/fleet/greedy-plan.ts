import type { PlanModel } from './build-plan-lp.js';
import type { PlanInput } from './plan-input.js';

/** One way to serve more of a demand: spare capacity already placed, or a new instance (maybe on bought servers). */
interface Step {
  usdPerRequestPerSecond: number;
  flow: number;
  siteModel: string;
  served: number;
  /** A new instance: its index in `model.instances`, the servers it needs bought, and its usable capacity. */
  instance?: { index: number; servers: number; capacity: number };
}

/**
 * A feasible plan built greedily, the fallback for a MILP solve cut short: demands largest first, each served by
 * whatever costs least per request/s at that moment — capacity already placed for its site and model (free),
 * or one more instance on free devices or on servers bought for it — until it is served or only options dearer
 * than the unserved penalty are left. It respects every constraint of `buildPlanModel` (demand, capacity,
 * devices, power) and takes milliseconds where the MILP may take longer than its time limit to find a plan as
 * good. Returns a value per column name; columns it does not name are 0.
 */
export function greedyPlan(input: PlanInput, model: PlanModel): Map<string, number> {
  const { groups, instances, flows } = model;
  const freeDevices = groups.map((group) => group.existingServers * group.devicesPerServer);
  const buyable = groups.map((group) => group.buyMaxServers);
  const bought = groups.map(() => 0);
  const powerLeft = new Map(input.sites.map((site) => [site.id, site.powerLimitWatts ?? Infinity]));
  const instanceCount = instances.map(() => 0);
  const flowValue = flows.map(() => 0);
  const unserved = input.demand.map((demand) => demand.requestsPerSecond);
  const spare = new Map<string, number>();
  const penalty = input.unservedPenaltyUsdPerRequest * 3600;

  const instancesBySiteModel = new Map<string, number[]>();
  instances.forEach((instance, index) => {
    const key = `${groups[instance.group]!.site}|${instance.config.model}`;
    instancesBySiteModel.set(key, [...(instancesBySiteModel.get(key) ?? []), index]);
  });
  const flowsByDemand = input.demand.map((): number[] => []);
  flows.forEach((flow, index) => flowsByDemand[flow.demand]!.push(index));

  const cheapestStep = (demand: number): Step | undefined => {
    let best: Step | undefined;
    for (const f of flowsByDemand[demand]!) {
      const { site, model: modelId } = flows[f]!;
      const siteModel = `${site}|${modelId}`;
      const left = spare.get(siteModel) ?? 0;
      if (left > 1e-9)
        return { usdPerRequestPerSecond: 0, flow: f, siteModel, served: Math.min(left, unserved[demand]!) };
      for (const index of instancesBySiteModel.get(siteModel) ?? []) {
        const { group: g, config } = instances[index]!;
        const group = groups[g]!;
        if (config.powerWatts > powerLeft.get(site)!) continue;
        const servers = Math.max(
          0,
          Math.ceil((config.devicesPerInstance - freeDevices[g]!) / group.devicesPerServer),
        );
        if (servers > buyable[g]!) continue;
        const capacity = input.targetUtilization * config.capacityRequestsPerSecond;
        const served = Math.min(capacity, unserved[demand]!);
        const usd =
          config.devicesPerInstance * group.devicePricePerHourUsd + servers * group.buyPricePerServerHourUsd;
        const usdPerRequestPerSecond = usd / served;
        if (
          usdPerRequestPerSecond >= penalty ||
          (best && best.usdPerRequestPerSecond <= usdPerRequestPerSecond)
        )
          continue;
        best = { usdPerRequestPerSecond, flow: f, siteModel, served, instance: { index, servers, capacity } };
      }
    }
    return best;
  };

  const order = input.demand.map((_, d) => d);
  order.sort((a, b) => input.demand[b]!.requestsPerSecond - input.demand[a]!.requestsPerSecond);
  for (const d of order) {
    while (unserved[d]! > 1e-9) {
      const step = cheapestStep(d);
      if (!step) break;
      if (step.instance) {
        const { index, servers, capacity } = step.instance;
        const { group: g, config } = instances[index]!;
        instanceCount[index]!++;
        bought[g]! += servers;
        buyable[g]! -= servers;
        freeDevices[g]! += servers * groups[g]!.devicesPerServer - config.devicesPerInstance;
        const site = flows[step.flow]!.site;
        powerLeft.set(site, powerLeft.get(site)! - config.powerWatts);
        spare.set(step.siteModel, (spare.get(step.siteModel) ?? 0) + capacity);
      }
      spare.set(step.siteModel, spare.get(step.siteModel)! - step.served);
      flowValue[step.flow]! += step.served;
      unserved[d]! -= step.served;
    }
  }

  const values = new Map<string, number>();
  instances.forEach((instance, i) => values.set(instance.column, instanceCount[i]!));
  model.purchases.forEach((purchase) => values.set(purchase.column, bought[purchase.group]!));
  flows.forEach((flow, i) => values.set(flow.column, flowValue[i]!));
  model.unserved.forEach((column) => values.set(column.column, Math.max(0, unserved[column.demand]!)));
  return values;
}
