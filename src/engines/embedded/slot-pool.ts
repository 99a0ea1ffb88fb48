import { EdgeFleetError } from '../../spec/edgefleet-error.js';

interface Waiter<T> {
  resolve(slot: T): void;
  reject(error: unknown): void;
}

/**
 * A fixed set of slots (context sequences) handed out first come, first served. Requests beyond the
 * slots wait in a bounded queue; a waiter that gives up (client gone) leaves the queue at once.
 */
export class SlotPool<T> {
  private readonly free: T[];
  private readonly waiters: Waiter<T>[] = [];

  constructor(
    slots: readonly T[],
    private readonly maxQueue: number,
  ) {
    this.free = [...slots];
  }

  get waiting(): number {
    return this.waiters.length;
  }

  get available(): number {
    return this.free.length;
  }

  isBusy(slot: T): boolean {
    return !this.free.includes(slot);
  }

  acquire(signal?: AbortSignal): Promise<T> {
    const slot = this.free.pop();
    if (slot !== undefined) return Promise.resolve(slot);
    if (this.waiters.length >= this.maxQueue) {
      return Promise.reject(
        new EdgeFleetError(
          'server_busy',
          `all slots are busy and ${this.maxQueue} requests are already waiting`,
        ),
      );
    }
    return new Promise<T>((resolve, reject) => {
      const waiter: Waiter<T> = {
        resolve: (value) => {
          signal?.removeEventListener('abort', onAbort);
          resolve(value);
        },
        reject,
      };
      const onAbort = () => {
        const index = this.waiters.indexOf(waiter);
        if (index >= 0) this.waiters.splice(index, 1);
        reject(signal?.reason ?? new Error('aborted'));
      };
      if (signal?.aborted) return onAbort();
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiters.push(waiter);
    });
  }

  release(slot: T): void {
    const next = this.waiters.shift();
    if (next) next.resolve(slot);
    else this.free.push(slot);
  }
}
