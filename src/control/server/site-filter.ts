/**
 * The `site` filter of the reports over the usage ledger (`/api/v1/usage`, `/api/v1/traffic`): the ledger
 * records site names, and `site` may be a site's id or its name. A value that is no site's id is taken
 * as a name (a site no longer registered still has its records).
 */
import type { Store } from '../../store/store.js';

/** The site name to filter the ledger by, for a `site` parameter that is a site's id or name. */
export async function ledgerSiteName(store: Store, site: string | undefined): Promise<string | undefined> {
  if (site === undefined) return undefined;
  return (await store.listSites()).find((s) => s.id === site)?.name ?? site;
}
