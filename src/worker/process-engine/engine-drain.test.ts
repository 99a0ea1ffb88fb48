import { describe, expect, it } from 'vitest';
import type { EngineLoad } from '../../spec/engine-metrics.js';
import { drainEngine, type DrainTarget } from './engine-drain.js';

const load = (running: number, waiting = 0): EngineLoad => ({
  requestsRunning: running,
  requestsWaiting: waiting,
  kvCacheUsage: null,
});

/** An engine whose reads return `script` in turn (the last one from then on); counts the reads. */
function scripted(script: (EngineLoad | undefined)[]): DrainTarget & { reads: () => number } {
  let reads = 0;
  return {
    running: () => true,
    readLoad: async () => script[Math.min(reads++, script.length - 1)],
    reads: () => reads,
  };
}

const quick = { routeDelayMs: 0, timeoutMs: 2000, pollMs: 5 };

describe('drainEngine', () => {
  it('ends on the second idle read in a row, not the first', async () => {
    const target = scripted([load(2, 1), load(1), load(0), load(1), load(0), load(0), load(3)]);
    expect(await drainEngine(target, quick)).toEqual({ end: 'idle', maxInFlight: 3, inFlight: 0 });
    expect(target.reads()).toBe(6);
  });

  it('waits out a failed read once it has read the load, but not an engine it could never read', async () => {
    expect(await drainEngine(scripted([load(1), undefined, undefined, load(0), load(0)]), quick)).toEqual({
      end: 'idle',
      maxInFlight: 1,
      inFlight: 0,
    });
    expect((await drainEngine(scripted([undefined, load(0)]), quick)).end).toBe('metrics unreadable');
    // A scrape without the running and waiting gauges says nothing about what is in flight.
    const unknown: EngineLoad = { ...load(0), queueUnknown: true };
    expect((await drainEngine(scripted([unknown]), quick)).end).toBe('metrics unreadable');
  });

  it('waits the route delay before the first read, and gives up at the time limit', async () => {
    const started = Date.now();
    const target = scripted([load(1)]);
    const result = await drainEngine(target, { routeDelayMs: 100, timeoutMs: 300, pollMs: 20 });
    expect(result).toEqual({ end: 'time limit', maxInFlight: 1, inFlight: 1 });
    expect(Date.now() - started).toBeGreaterThanOrEqual(290);
    expect(target.reads()).toBeLessThanOrEqual(12); // none during the first 100 ms
  });

  it('keeps a follower rank (no API) until the time limit, and ends when the engine exits', async () => {
    const follower = await drainEngine({ running: () => true, readLoad: null }, { ...quick, timeoutMs: 100 });
    expect(follower.end).toBe('follower');
    let alive = true;
    setTimeout(() => (alive = false), 50);
    const exited = await drainEngine({ running: () => alive, readLoad: async () => load(1) }, quick);
    expect(exited.end).toBe('exited');
  });

  it('is cut short by its signal, also in the middle of the first read', async () => {
    const cut = new AbortController();
    const target: DrainTarget = {
      running: () => true,
      readLoad: (signal) =>
        new Promise((resolve) => signal.addEventListener('abort', () => resolve(undefined), { once: true })),
    };
    setTimeout(() => cut.abort(), 50);
    const result = await drainEngine(target, { ...quick, signal: cut.signal });
    expect(result).toEqual({ end: 'cut short', maxInFlight: 0, inFlight: null });
  });
});
