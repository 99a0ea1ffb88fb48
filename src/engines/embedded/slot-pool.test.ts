import { describe, expect, it } from 'vitest';
import type { EdgeFleetError } from '../../spec/edgefleet-error.js';
import { SlotPool } from './slot-pool.js';

describe('SlotPool', () => {
  it('hands out slots, queues the rest in order, and reuses released slots', async () => {
    const pool = new SlotPool(['a', 'b'], 10);
    const first = await pool.acquire();
    const second = await pool.acquire();
    expect(new Set([first, second])).toEqual(new Set(['a', 'b']));
    const order: string[] = [];
    const third = pool.acquire().then((slot) => order.push(`third:${slot}`));
    const fourth = pool.acquire().then((slot) => order.push(`fourth:${slot}`));
    expect(pool.waiting).toBe(2);
    pool.release(first);
    pool.release(second);
    await Promise.all([third, fourth]);
    expect(order).toEqual([`third:${first}`, `fourth:${second}`]);
    expect(pool.waiting).toBe(0);
  });

  it('refuses with server_busy when the queue is full', async () => {
    const pool = new SlotPool(['a'], 1);
    await pool.acquire();
    void pool.acquire();
    await expect(pool.acquire()).rejects.toMatchObject({
      code: 'server_busy',
    } satisfies Partial<EdgeFleetError>);
  });

  it('drops a waiter whose signal aborts, so its slot goes to the next one', async () => {
    const pool = new SlotPool(['a'], 10);
    const held = await pool.acquire();
    const abort = new AbortController();
    const gone = pool.acquire(abort.signal);
    const next = pool.acquire();
    abort.abort(new Error('client left'));
    await expect(gone).rejects.toThrow('client left');
    expect(pool.waiting).toBe(1);
    pool.release(held);
    await expect(next).resolves.toBe('a');
    expect(pool.isBusy('a')).toBe(true);
  });
});
