import { z } from 'zod';

const id = z.string().min(1);
const count = z.number().int().nonnegative();

/** Servers a site already has: `count` servers of `devicesPerServer` devices each. */
const siteServersSchema = z.strictObject({
  hardware: id,
  count,
  devicesPerServer: z.number().int().positive().default(8),
  /** Running cost per server and hour (default: the catalog price per device × devicesPerServer). */
  pricePerHourUsd: z.number().nonnegative().optional(),
});

/** Servers a site may buy. */
const buyOptionSchema = z.strictObject({
  hardware: id,
  devicesPerServer: z.number().int().positive().default(8),
  maxServers: count,
  /** Amortized purchase price per server and hour (default: catalog price per device × devicesPerServer). */
  pricePerHourUsd: z.number().nonnegative().optional(),
});

export const planSiteSchema = z.strictObject({
  id,
  region: id,
  location: z.string().optional(),
  /** Most watts the site's accelerators may draw (default: no limit). */
  powerLimitWatts: z.number().positive().optional(),
  servers: z.array(siteServersSchema).default([]),
  buy: z.array(buyOptionSchema).default([]),
});

/** Demand of one region: requests per second of a given shape, a model or a minimum model size, an SLO. */
export const planDemandSchema = z
  .strictObject({
    region: id,
    requestsPerSecond: z.number().nonnegative(),
    promptTokens: z.number().int().positive().default(500),
    outputTokens: z.number().int().positive().default(300),
    model: id.optional(),
    minModelParamsB: z.number().positive().optional(),
    sloTtftMs: z.number().positive().optional(),
    sloTpotMs: z.number().positive().optional(),
    /** Other regions whose sites may also serve this demand (default: only the region's own sites). */
    alsoServedFrom: z.array(id).default([]),
  })
  .refine((demand) => (demand.model === undefined) !== (demand.minModelParamsB === undefined), {
    message: 'give exactly one of model or minModelParamsB',
  });

/**
 * `edgefleet plan --input FILE` (YAML or JSON). Documented in docs/planner.md. Strict: unknown keys are errors.
 */
export const planInputSchema = z.strictObject({
  sites: z
    .array(planSiteSchema)
    .min(1)
    .superRefine((sites, context) => {
      const seen = new Set<string>();
      sites.forEach((site, index) => {
        if (seen.has(site.id)) {
          context.addIssue({
            code: 'custom',
            path: [index, 'id'],
            message: `site id "${site.id}" appears twice`,
          });
        }
        seen.add(site.id);
      });
    }),
  demand: z.array(planDemandSchema).min(1),
  /** Models a `minModelParamsB` demand may be served with (default: every catalog model). */
  models: z.array(id).optional(),
  /** Plan instances to run at most this busy (default 0.8), leaving headroom for bursts. */
  targetUtilization: z.number().gt(0).lte(1).default(0.8),
  /** What one unserved request costs, in dollars (default 0.05): how hard the plan tries to serve. */
  unservedPenaltyUsdPerRequest: z.number().nonnegative().default(0.05),
  /** Candidate models per `minModelParamsB` demand, smallest first (default 4). */
  maxModelsPerDemand: z.number().int().positive().default(4),
});

export type PlanInput = z.infer<typeof planInputSchema>;
export type PlanSite = z.infer<typeof planSiteSchema>;
export type PlanDemand = z.infer<typeof planDemandSchema>;
