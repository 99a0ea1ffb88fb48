import { describe, expect, it } from 'vitest';
import { BatchGate, type GateStream } from './batch-gate.js';

const tick = () => new Promise((resolve) => setImmediate(resolve));
const settle = async (count = 5) => {
  for (let i = 0; i < count; i++) await tick();
};

/** A stream past its prompt evaluation, holding its first generated token. */
function generating(gate: BatchGate): GateStream {
  const stream = gate.join();
  expect(stream.beforeNext()).toBeUndefined(); // the prompt goes at once
  stream.afterNext();
  return stream;
}

function track(promise: Promise<void> | undefined) {
  const state = { done: promise === undefined };
  void promise?.then(() => (state.done = true));
  return state;
}

describe('BatchGate rounds', () => {
  it('lets streams queue their next token only once all of them are ready', async () => {
    const gate = new BatchGate(1000);
    const [a, b] = [generating(gate), generating(gate)];
    const first = track(a.beforeNext());
    await settle();
    expect(first.done).toBe(false);
    const second = track(b.beforeNext());
    await settle();
    expect(first.done && second.done).toBe(true);
  });

  it('waits for a stream that is still decoding, however long, but not for one that is busy elsewhere', async () => {
    const gate = new BatchGate(20);
    const [a, b] = [generating(gate), generating(gate)];
    await Promise.all([a.beforeNext(), b.beforeNext()]); // both are now decoding
    a.afterNext();
    const waiting = track(a.beforeNext());
    await new Promise((resolve) => setTimeout(resolve, 60));
    expect(waiting.done).toBe(false); // b's decode is still running
    b.afterNext(); // b got its token but does not come back (a slow client, say)
    await new Promise((resolve) => setTimeout(resolve, 60));
    expect(waiting.done).toBe(true);
  });

  it('never waits for a stream that is evaluating its prompt, and releases a round when a stream leaves', async () => {
    const gate = new BatchGate(1000);
    const [a, b] = [generating(gate), generating(gate)];
    const newcomer = gate.join();
    expect(newcomer.beforeNext()).toBeUndefined();
    const waiting = track(a.beforeNext());
    await settle();
    expect(waiting.done).toBe(false); // waits for b, not for the newcomer
    b.leave();
    await settle();
    expect(waiting.done).toBe(true);
  });
});

describe('BatchGate dispatch', () => {
  it('dispatches once every stream that went ahead has queued', async () => {
    const gate = new BatchGate(1000);
    let queued = 0;
    gate.bindQueueProbe(() => queued);
    const [a, b] = [gate.join(), gate.join()];
    a.beforeNext();
    b.beforeNext();
    let dispatched = 0;
    queued = 1;
    gate.schedule(() => dispatched++);
    await settle(20);
    expect(dispatched).toBe(0);
    queued = 2;
    await settle(2);
    expect(dispatched).toBe(1);
  });

  it('dispatches at the deadline when a stream does not queue in time', async () => {
    const gate = new BatchGate(30);
    gate.bindQueueProbe(() => 1);
    gate.join().beforeNext();
    gate.join().beforeNext();
    const startedAt = performance.now();
    const dispatchedAt = await new Promise<number>((resolve) =>
      gate.schedule(() => resolve(performance.now())),
    );
    expect(dispatchedAt - startedAt).toBeGreaterThanOrEqual(29);
  });
});

describe('BatchGate exclusive work', () => {
  it('holds streams back until the exclusive work is done', async () => {
    const gate = new BatchGate(1000);
    const stream = generating(gate);
    let finish: () => void = () => undefined;
    const work = gate.exclusive(() => new Promise<void>((resolve) => (finish = resolve)));
    const held = track(stream.beforeNext());
    await settle();
    expect(held.done).toBe(false);
    finish();
    await work;
    await settle();
    expect(held.done).toBe(true);
  });
});

describe('BatchGate prompt parts', () => {
  it('gives a prompt parts of the prefill chunk while any stream generates, else whole batches', () => {
    const gate = new BatchGate(1000, 64);
    expect(gate.promptPart(512)).toBe(512);
    const stream = gate.join();
    // Still evaluating its own prompt: not generating yet.
    expect(gate.promptPart(512)).toBe(512);
    expect(stream.beforeNext()).toBeUndefined();
    stream.afterNext(); // its first token: generating
    expect(gate.promptPart(512)).toBe(64);
    expect(gate.promptPart(32)).toBe(32); // never more than a batch
    stream.leave();
    expect(gate.promptPart(512)).toBe(512);
    const unchunked = new BatchGate(1000);
    unchunked.join().afterNext();
    expect(unchunked.promptPart(512)).toBe(512);
  });
});
