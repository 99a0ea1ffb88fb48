import { describe, expect, it } from 'vitest';
import type { RouteSite } from '../../spec/route-table.js';
import { SiteCheck } from './site-check.js';

/** A logger that keeps the messages of its warnings. */
function recordingLog() {
  const warnings: string[] = [];
  const log = { warn: (_fields: unknown, message: string) => warnings.push(message) };
  return { warnings, log: log as unknown as ConstructorParameters<typeof SiteCheck>[1] };
}

const table = (sites?: RouteSite[]) => ({ builtAtMs: 0, models: [], ...(sites && { sites }) });
const north: RouteSite = { id: 's-1', name: 'north', region: 'cn-east' };
const south: RouteSite = { id: 's-2', name: 'south', region: null };

describe('SiteCheck', () => {
  it('knows nothing until a table lists sites (an older control plane lists none)', () => {
    const { log, warnings } = recordingLog();
    const check = new SiteCheck('north', log);
    expect([check.known, check.region]).toEqual([null, null]);
    check.update(table());
    expect([check.known, check.region]).toEqual([null, null]);
    expect(warnings).toEqual([]);
  });

  it("finds the site by name, else by id, and takes the site's region", () => {
    const { log, warnings } = recordingLog();
    const byName = new SiteCheck('north', log);
    byName.update(table([south, north]));
    expect([byName.known, byName.region]).toEqual([true, 'cn-east']);
    const byId = new SiteCheck('s-2', log);
    byId.update(table([south, north]));
    expect([byId.known, byId.region]).toEqual([true, null]);
    expect(warnings).toEqual([]);
  });

  it('warns about an unknown site once per list of known sites, and again after it was found', () => {
    const { log, warnings } = recordingLog();
    const check = new SiteCheck('nort', log);
    check.update(table([north]));
    check.update(table([north]));
    expect([check.known, check.region]).toEqual([false, null]);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/knows no site "nort".*check --site; known sites: north$/);
    check.update(table([north, south]));
    expect(warnings).toHaveLength(2);
    expect(warnings[1]).toMatch(/known sites: north, south$/);
    check.update(table([north, south, { id: 's-3', name: 'nort', region: 'r' }]));
    expect([check.known, check.region]).toEqual([true, 'r']);
    check.update(table([north, south]));
    expect(warnings).toHaveLength(3);
    check.update(table([]));
    expect(warnings[3]).toMatch(/known sites: none$/);
  });
});
