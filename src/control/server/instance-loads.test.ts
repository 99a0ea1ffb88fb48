import { describe, expect, it } from 'vitest';
import type { InstanceLoad } from '../../spec/route-table.js';
import { InstanceLoads } from './instance-loads.js';

const load: Omit<InstanceLoad, 'atMs'> = {
  requestsRunning: 1,
  requestsWaiting: 0,
  kvCacheUsage: 0.5,
};

describe('InstanceLoads', () => {
  it('gives the last load of an instance until it is older than the maximum age', () => {
    const loads = new InstanceLoads(1000);
    loads.record('a', load, 10_000);
    expect(loads.get('a', 10_500)).toEqual({ ...load, atMs: 10_000 });
    expect(loads.get('a', 11_001)).toBeUndefined();
  });

  it('forgets instances that stopped reporting (deleted, replaced) without their being read', () => {
    const loads = new InstanceLoads(1000);
    // A long run of instance churn: each instance reports a few times, then is gone for good.
    for (let i = 0; i < 500; i++) {
      for (let beat = 0; beat < 3; beat++) loads.record(`instance-${i}`, load, i * 400 + beat * 100);
    }
    // Only those heard from within about two maximum ages remain.
    expect(loads.size).toBeLessThanOrEqual(6);
    expect(loads.get('instance-499', 499 * 400 + 200)).toBeDefined();
  });
});
