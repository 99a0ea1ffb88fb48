/**
 * The router's per-instance metric series: the instance id and site behind each routing key (the label
 * object, a new one only when they change), the gauges a newly seen instance gets at once, and the series
 * dropped when an instance leaves the route table, so instance churn leaves none behind.
 */
import type { RouteInstance } from '../../spec/route-table.js';
import type { RoutingMetrics } from './routing-metrics.js';

export interface InstanceLabels {
  instance: string;
  site: string;
}

export class InstanceSeries {
  private readonly known = new Map<string, InstanceLabels>();

  constructor(
    private readonly metrics: RoutingMetrics,
    /** The instance's state now, for the gauges of a newly seen one. */
    private readonly stateOf: (key: string) => { up: boolean; circuitOpen: boolean },
  ) {}

  labelsOf(key: string): InstanceLabels | undefined {
    return this.known.get(key);
  }

  /**
   * Keeps the labels of a routing key and gives a newly seen instance its per-instance gauges: they change
   * only on transitions, so an instance that never failed would otherwise have no `instance_up` series.
   */
  remember(key: string, instance: RouteInstance): void {
    const known = this.known.get(key);
    if (known?.instance === instance.id && known.site === instance.siteName) return;
    if (known) this.forget(known);
    const labels = { instance: instance.id, site: instance.siteName };
    this.known.set(key, labels);
    const { up, circuitOpen } = this.stateOf(key);
    this.metrics.instanceUp.set(labels, up ? 1 : 0);
    this.metrics.circuitOpen.set(labels, circuitOpen ? 1 : 0);
  }

  /** Drops the series of every routing key not in `keys`. */
  retain(keys: ReadonlySet<string>): void {
    for (const [key, labels] of this.known) {
      if (keys.has(key)) continue;
      this.known.delete(key);
      this.forget(labels);
    }
  }

  /** Each known instance's measure (time per output or per prompt token), those measured at least once. */
  measured(measureOf: (key: string) => { ms: number } | null): (InstanceLabels & { ms: number })[] {
    const measures = [];
    for (const [key, { instance, site }] of this.known) {
      const measure = measureOf(key);
      if (measure !== null) measures.push({ instance, site, ms: measure.ms });
    }
    return measures;
  }

  private forget(labels: InstanceLabels): void {
    this.metrics.circuitOpen.remove(labels);
    this.metrics.instanceUp.remove(labels);
  }
}
