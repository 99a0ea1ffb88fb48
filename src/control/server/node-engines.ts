/**
 * How many engines each node's worker reported in its last heartbeat: starting, running, or still stopping
 * after the control plane removed their instance (draining the answers in flight). Kept in memory, like
 * the engines' loads: `edgefleet nodes drain --wait` reads it to know when a node runs nothing at all.
 */
export class NodeEngines {
  private readonly counts = new Map<string, number>();

  record(nodeId: string, engines: number): void {
    this.counts.set(nodeId, engines);
  }

  /** null: the node was not heard from since this control plane started. */
  get(nodeId: string): number | null {
    return this.counts.get(nodeId) ?? null;
  }
}
