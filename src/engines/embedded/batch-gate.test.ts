import { describe, expect, it } from 'vitest';
import { BatchGate } from './batch-gate.js';

const tick = () => new Promise((resolve) => setImmediate(resolve));

describe('BatchGate', () => {
  it('holds the batch until every active stream has queued its token', async () => {
    const gate = new BatchGate(1000);
    let queued = 0;
    gate.bindQueueProbe(() => queued);
    gate.enter();
    gate.enter();
    let dispatched = 0;
    queued = 1;
    gate.schedule(() => dispatched++);
    for (let i = 0; i < 20; i++) await tick();
    expect(dispatched).toBe(0);
    queued = 2;
    await tick();
    await tick();
    expect(dispatched).toBe(1);
  });

  it('dispatches at the deadline when a stream does not queue in time', async () => {
    const gate = new BatchGate(30);
    gate.bindQueueProbe(() => 1);
    gate.enter();
    gate.enter();
    const startedAt = performance.now();
    const dispatchedAt = await new Promise<number>((resolve) =>
      gate.schedule(() => resolve(performance.now())),
    );
    expect(dispatchedAt - startedAt).toBeGreaterThanOrEqual(29);
  });

  it('dispatches as soon as a stream that others waited for leaves', async () => {
    const gate = new BatchGate(1000);
    gate.bindQueueProbe(() => 1);
    gate.enter();
    gate.enter();
    let dispatched = false;
    gate.schedule(() => (dispatched = true));
    await tick();
    expect(dispatched).toBe(false);
    gate.leave();
    expect(dispatched).toBe(true);
  });
});
