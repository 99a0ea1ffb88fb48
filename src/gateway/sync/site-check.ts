/**
 * A room gateway's `--site` against the sites the control plane knows (the route table's `sites`): the
 * site's region, which is the gateway's own when `--region` was not given, and a warning while no site of
 * that name (or id) is known: a typo, or a room whose workers and endpoints have not joined yet. The
 * warning is logged once for each list of known sites, not on every pull.
 */
import type { RouteSite, RouteTable } from '../../spec/route-table.js';
import type { Logger } from '../../telemetry/logger.js';

export class SiteCheck {
  /** The known site of `--site`; null when the control plane lists sites and none is it; undefined: not told. */
  private found: RouteSite | null | undefined;
  private warnedFor: string | undefined;

  constructor(
    private readonly site: string,
    private readonly log: Logger,
  ) {}

  /** Checks `--site` against a table taken into use. */
  update(table: RouteTable): void {
    const { sites } = table;
    if (sites === undefined) {
      this.found = undefined; // a control plane from before sites were listed
      return;
    }
    this.found = sites.find((s) => s.name === this.site) ?? sites.find((s) => s.id === this.site) ?? null;
    if (this.found !== null) {
      this.warnedFor = undefined;
      return;
    }
    const known = sites.map((s) => s.name).sort();
    const signature = known.join('\n');
    if (signature === this.warnedFor) return;
    this.warnedFor = signature;
    this.log.warn(
      { site: this.site, knownSites: known },
      `the control plane knows no site "${this.site}" (no worker or endpoint of it has joined): check --site; ` +
        `known sites: ${known.length > 0 ? known.join(', ') : 'none'}`,
    );
  }

  /** Whether the control plane knows the site; null until a table lists sites. */
  get known(): boolean | null {
    return this.found === undefined ? null : this.found !== null;
  }

  /** The site's region as the control plane knows it, when it knows one. */
  get region(): string | null {
    return this.found?.region ?? null;
  }
}
