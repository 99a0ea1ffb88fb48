import { findHardware } from '../../catalog/hardware/hardware-catalog.js';
import { bestInstance, demandModels, modelRequirements, type InstanceConfig } from './plan-candidates.js';
import type { PlanInput } from './plan-input.js';

/** A server group of one site: existing and buyable servers of one hardware × devicesPerServer. */
export interface ServerGroup {
  site: string;
  hardware: string;
  devicesPerServer: number;
  existingServers: number;
  /** Running cost of one device per hour. */
  devicePricePerHourUsd: number;
  buyMaxServers: number;
  buyPricePerServerHourUsd: number;
}

/** The MILP in CPLEX LP format plus what each column means. */
export interface PlanModel {
  lp: string;
  groups: ServerGroup[];
  /** n<i>: instances of a config in a group. */
  instances: { column: string; group: number; config: InstanceConfig }[];
  /** b<i>: servers bought in a group. */
  purchases: { column: string; group: number }[];
  /** f<i>: requests/s of a demand served at a site with a model. */
  flows: { column: string; demand: number; site: string; model: string }[];
  /** u<i>: unserved requests/s of a demand. */
  unserved: { column: string; demand: number }[];
  /** Models each demand may use and the ones no server can run within the SLO. */
  demandModels: string[][];
  unservable: Map<string, string>;
}

const fmt = (value: number): string => (Number.isInteger(value) ? String(value) : value.toPrecision(10));

/** Joins LP terms, eight to a line (the LP format's readers limit line length). */
function wrap(terms: readonly string[]): string {
  const lines: string[] = [];
  for (let i = 0; i < terms.length; i += 8) lines.push(terms.slice(i, i + 8).join(' '));
  return lines.join('\n   ');
}

function serverGroups(input: PlanInput): ServerGroup[] {
  const groups = new Map<string, ServerGroup>();
  for (const site of input.sites) {
    const group = (hardware: string, devicesPerServer: number): ServerGroup => {
      const key = `${site.id}|${hardware}|${devicesPerServer}`;
      const hw = findHardware(hardware);
      let found = groups.get(key);
      if (!found) {
        const devicePrice = hw.pricePerHourUsd ?? 0;
        found = {
          site: site.id,
          hardware: hw.id,
          devicesPerServer,
          existingServers: 0,
          devicePricePerHourUsd: devicePrice,
          buyMaxServers: 0,
          buyPricePerServerHourUsd: devicePrice * devicesPerServer,
        };
        groups.set(key, found);
      }
      return found;
    };
    for (const servers of site.servers) {
      const found = group(servers.hardware, servers.devicesPerServer);
      found.existingServers += servers.count;
      if (servers.pricePerHourUsd !== undefined) {
        found.devicePricePerHourUsd = servers.pricePerHourUsd / servers.devicesPerServer;
      }
    }
    for (const option of site.buy) {
      const found = group(option.hardware, option.devicesPerServer);
      found.buyMaxServers += option.maxServers;
      if (option.pricePerHourUsd !== undefined) found.buyPricePerServerHourUsd = option.pricePerHourUsd;
    }
  }
  return [...groups.values()];
}

/**
 * Builds the fleet MILP. Integer n (instances per group and model) and b (servers bought); continuous f
 * (requests/s from a demand to a site and model) and u (unserved). Minimizes $/h: devices in use × their
 * running price + servers bought × their amortized price + unserved requests × penalty, subject to: each
 * demand served or counted unserved; a site's flows ≤ target utilization × its instances' capacity; instances'
 * devices ≤ existing + bought devices per group; accelerator power ≤ the site's limit.
 */
export function buildPlanModel(input: PlanInput): PlanModel {
  const groups = serverGroups(input);
  const requirements = modelRequirements(input);
  const configCache = new Map<string, InstanceConfig | undefined>();
  const instances: PlanModel['instances'] = [];
  const purchases: PlanModel['purchases'] = [];
  const flows: PlanModel['flows'] = [];
  const unserved: PlanModel['unserved'] = [];
  const objective: string[] = [];
  const rows: string[] = [];
  const integers: string[] = [];
  const bounds: string[] = [];

  groups.forEach((group, g) => {
    for (const [model, requirement] of requirements) {
      const key = `${model}|${group.hardware}|${group.devicesPerServer}`;
      if (!configCache.has(key)) {
        configCache.set(key, bestInstance(model, group.hardware, group.devicesPerServer, requirement));
      }
      const config = configCache.get(key);
      if (!config) continue;
      const column = `n${instances.length}`;
      instances.push({ column, group: g, config });
      integers.push(column);
      objective.push(`+ ${fmt(config.devicesPerInstance * group.devicePricePerHourUsd)} ${column}`);
    }
    if (group.buyMaxServers > 0) {
      const column = `b${purchases.length}`;
      purchases.push({ column, group: g });
      integers.push(column);
      bounds.push(`0 <= ${column} <= ${group.buyMaxServers}`);
      objective.push(`+ ${fmt(group.buyPricePerServerHourUsd)} ${column}`);
    }
  });

  const sitesByRegion = new Map<string, string[]>();
  for (const site of input.sites)
    sitesByRegion.set(site.region, [...(sitesByRegion.get(site.region) ?? []), site.id]);
  const allowedModels = input.demand.map((demand) => demandModels(demand, input));
  const unservable = new Map<string, string>();
  const servableModels = new Set(instances.map((instance) => instance.config.model));
  input.demand.forEach((demand, d) => {
    const sites = [demand.region, ...demand.alsoServedFrom].flatMap(
      (region) => sitesByRegion.get(region) ?? [],
    );
    const terms: string[] = [];
    for (const site of sites) {
      for (const model of allowedModels[d]!) {
        if (!servableModels.has(model)) continue;
        const column = `f${flows.length}`;
        flows.push({ column, demand: d, site, model });
        terms.push(`+ ${column}`);
      }
    }
    for (const model of allowedModels[d]!) {
      if (!servableModels.has(model)) unservable.set(model, `no server type meets the SLO or fits ${model}`);
    }
    const u = `u${unserved.length}`;
    unserved.push({ column: u, demand: d });
    objective.push(`+ ${fmt(input.unservedPenaltyUsdPerRequest * 3600)} ${u}`);
    rows.push(` dem${d}: ${wrap([...terms, `+ ${u}`])} = ${fmt(demand.requestsPerSecond)}`);
  });

  // Capacity per site and model.
  const siteModels = new Map<string, { flows: string[]; capacity: string[] }>();
  const entry = (site: string, model: string) => {
    const key = `${site}|${model}`;
    let found = siteModels.get(key);
    if (!found) siteModels.set(key, (found = { flows: [], capacity: [] }));
    return found;
  };
  for (const flow of flows) entry(flow.site, flow.model).flows.push(`+ ${flow.column}`);
  for (const instance of instances) {
    const capacity = input.targetUtilization * instance.config.capacityRequestsPerSecond;
    entry(groups[instance.group]!.site, instance.config.model).capacity.push(
      `- ${fmt(capacity)} ${instance.column}`,
    );
  }
  let c = 0;
  for (const { flows: f, capacity } of siteModels.values()) {
    if (f.length > 0) rows.push(` cap${c++}: ${wrap([...f, ...capacity])} <= 0`);
  }

  // Devices per group, and power per site.
  groups.forEach((group, g) => {
    const used = instances
      .filter((i) => i.group === g)
      .map((i) => `+ ${i.config.devicesPerInstance} ${i.column}`);
    if (used.length === 0) return;
    const bought = purchases
      .filter((p) => p.group === g)
      .map((p) => `- ${group.devicesPerServer} ${p.column}`);
    rows.push(
      ` dev${g}: ${[...used, ...bought].join(' ')} <= ${group.existingServers * group.devicesPerServer}`,
    );
  });
  input.sites.forEach((site, s) => {
    if (site.powerLimitWatts === undefined) return;
    const terms = instances
      .filter((i) => groups[i.group]!.site === site.id)
      .map((i) => `+ ${fmt(i.config.powerWatts)} ${i.column}`);
    if (terms.length > 0) rows.push(` pow${s}: ${wrap(terms)} <= ${fmt(site.powerLimitWatts)}`);
  });

  const lp = [
    'Minimize',
    ` obj: ${wrap(objective)}`,
    'Subject To',
    ...rows,
    'Bounds',
    ...bounds,
    ...(integers.length ? ['General', ` ${wrap(integers)}`] : []),
    'End',
    '',
  ].join('\n');
  return { lp, groups, instances, purchases, flows, unserved, demandModels: allowedModels, unservable };
}
