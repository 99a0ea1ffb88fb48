/**
 * How many engines each node's worker reported in its last heartbeat: starting, running, or still stopping
 * after the control plane removed their instance (draining the answers in flight). Kept in memory, like
 * the engines' loads: `edgefleet nodes drain --wait` reads it to know when a node runs nothing at all.
 */

/**
 * How long after a node left (its worker shutting down) its reported engines are believed: the longest
 * its worker takes to stop them (the leave, 30 s of answers in flight, 10 s until SIGKILL), with room.
 */
export const leftEnginesMs = 60_000;

export class NodeEngines {
  private readonly counts = new Map<string, { engines: number; leftAtMs: number | null }>();

  constructor(private readonly now: () => number = Date.now) {}

  /** A heartbeat's count; `leaving` when the worker is shutting down (its node is down meanwhile). */
  record(nodeId: string, engines: number, leaving = false): void {
    const left = this.counts.get(nodeId)?.leftAtMs ?? null;
    this.counts.set(nodeId, { engines, leftAtMs: leaving ? (left ?? this.now()) : null });
  }

  /**
   * The engines a node runs. null: it was not heard from since this control plane started, or it is down
   * and not a node that left within `leftEnginesMs` (killed, cut off: its worker cannot say).
   */
  get(nodeId: string, up: boolean): number | null {
    const entry = this.counts.get(nodeId);
    if (entry === undefined) return null;
    if (up) return entry.engines;
    return entry.leftAtMs !== null && this.now() - entry.leftAtMs < leftEnginesMs ? entry.engines : null;
  }
}
