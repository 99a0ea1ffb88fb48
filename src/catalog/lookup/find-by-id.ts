import { EdgeFleetError } from '../../spec/edgefleet-error.js';

/** Anything a catalog holds: entries are found by their `id`. */
export interface CatalogEntry {
  readonly id: string;
}

/**
 * Finds a catalog entry by id (case-insensitive). An unknown id throws `invalid_argument` whose message lists
 * every valid id, so a typo on the command line is fixed in one step.
 */
export function findById<T extends CatalogEntry>(
  entries: readonly T[],
  id: string,
  what: string,
  param?: string,
): T {
  const wanted = id.trim().toLowerCase();
  const found = entries.find((entry) => entry.id === wanted);
  if (found) return found;
  const validIds = entries.map((entry) => entry.id);
  throw new EdgeFleetError('invalid_argument', `unknown ${what} "${id}"; valid ids: ${validIds.join(', ')}`, {
    param: param ?? what,
    data: { validIds },
  });
}

/** Throws when two entries share an id; used when a catalog is built and by the consistency tests. */
export function assertUniqueIds(entries: readonly CatalogEntry[], what: string): void {
  const seen = new Set<string>();
  for (const entry of entries) {
    if (seen.has(entry.id)) throw new EdgeFleetError('internal_error', `duplicate ${what} id "${entry.id}"`);
    seen.add(entry.id);
  }
}
