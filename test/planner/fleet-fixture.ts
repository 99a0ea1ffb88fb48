import { planInputSchema, type PlanInput } from '../../src/planner/fleet/plan-input.js';

const hardware = ['h20', 'l20', 'rtx-4090', 'ascend-910b', 'a800-80gb'];
const models = [
  'deepseek-r1-distill-qwen-7b',
  'deepseek-r1-distill-qwen-14b',
  'deepseek-r1-distill-qwen-32b',
  'qwen2.5-72b',
];

/**
 * N sites × 5 server types × 4 models, one region per 10 sites, two demands per region (one that also may be
 * served from the next region), deterministic. `powerScale` scales every site's power limit.
 */
export function fleet(siteCount: number, powerScale = 1): PlanInput {
  const regions = Math.max(1, Math.floor(siteCount / 10));
  return planInputSchema.parse({
    sites: Array.from({ length: siteCount }, (_, i) => ({
      id: `site-${i}`,
      region: `region-${i % regions}`,
      powerLimitWatts: (20000 + ((i * 7919) % 20000)) * powerScale,
      servers: hardware.map((hw, h) => ({ hardware: hw, count: (i + h) % 3, devicesPerServer: 8 })),
      buy: [{ hardware: hardware[i % hardware.length]!, devicesPerServer: 8, maxServers: 2 }],
    })),
    demand: Array.from({ length: regions }, (_, r) => [
      { region: `region-${r}`, requestsPerSecond: 5 + ((r * 13) % 40), model: models[r % 4]!, sloTpotMs: 60 },
      {
        region: `region-${r}`,
        requestsPerSecond: 2 + (r % 10),
        minModelParamsB: 14,
        sloTpotMs: 80,
        alsoServedFrom: [`region-${(r + 1) % regions}`],
      },
    ]).flat(),
    models,
  });
}
