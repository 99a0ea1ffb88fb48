import { api } from './api/client';
import type { Catalog } from './api/types';
import { type Polled, usePoll } from './use-poll';

let cached: Promise<Catalog> | undefined;

/** The planner's catalog (models, quantizations, engines, hardware), fetched once per page load. */
export function useCatalog(): Polled<Catalog> {
  return usePoll(
    () => {
      cached ??= api<Catalog>('/api/v1/catalog').catch((error: unknown) => {
        cached = undefined;
        throw error;
      });
      return cached;
    },
    0,
    [],
  );
}
