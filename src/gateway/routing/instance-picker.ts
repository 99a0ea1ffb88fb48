/**
 * Chooses the instance for one attempt: instances that failed a moment ago sit out a cooldown; among
 * the rest, the one with the fewest requests this gateway has in flight, ties broken round robin.
 */
import type { RouteInstance } from '../../spec/route-table.js';

/** An instance is identified by id and URL, so a restarted engine on a new port is a fresh target. */
export const targetKey = (instance: RouteInstance): string => `${instance.id}@${instance.url}`;

export interface Pick {
  instance: RouteInstance;
  /** Why this one, for the debug log. */
  reason: string;
}

export class InstancePicker {
  private readonly inFlight = new Map<string, number>();
  private readonly coolingUntil = new Map<string, number>();
  private turn = 0;

  constructor(private readonly cooldownMs = 2000) {}

  pick(
    instances: readonly RouteInstance[],
    exclude: ReadonlySet<string>,
    nowMs = Date.now(),
  ): Pick | undefined {
    const open = instances.filter(
      (i) => !exclude.has(targetKey(i)) && (this.coolingUntil.get(targetKey(i)) ?? 0) <= nowMs,
    );
    if (open.length === 0) return undefined;
    const least = Math.min(...open.map((i) => this.inFlightOf(i.id)));
    const tied = open.filter((i) => this.inFlightOf(i.id) === least);
    const instance = tied[this.turn++ % tied.length]!;
    const reason =
      open.length === 1
        ? 'only available instance'
        : `fewest in flight (${least}) of ${open.length} available${tied.length > 1 ? `, round robin among ${tied.length}` : ''}`;
    return { instance, reason };
  }

  /** Counts a request in flight on the instance until the returned function is called. */
  begin(instanceId: string): () => void {
    this.inFlight.set(instanceId, this.inFlightOf(instanceId) + 1);
    let done = false;
    return () => {
      if (done) return;
      done = true;
      const left = this.inFlightOf(instanceId) - 1;
      if (left > 0) this.inFlight.set(instanceId, left);
      else this.inFlight.delete(instanceId);
    };
  }

  /** Keeps the instance out of picks for the cooldown (it refused a connection or answered 5xx/429). */
  markFailed(instance: RouteInstance, nowMs = Date.now()): void {
    this.coolingUntil.set(targetKey(instance), nowMs + this.cooldownMs);
    if (this.coolingUntil.size > 10_000) {
      for (const [key, until] of this.coolingUntil) if (until <= nowMs) this.coolingUntil.delete(key);
    }
  }

  inFlightOf(instanceId: string): number {
    return this.inFlight.get(instanceId) ?? 0;
  }
}
