/**
 * The router's Prometheus metrics: routing decisions by model, site and reason kind, open circuit
 * breakers and health-check verdicts per instance, requests whose retry the budget refused; read at
 * scrape time: the requests this gateway has in flight to instances, and what it has measured (each
 * instance's time per output token and per prompt token, each site's round-trip time).
 */
import { Counter, Gauge, type Registry } from 'prom-client';

/** What the router knows at scrape time. */
export interface RoutingView {
  inFlight(): number;
  /** The moving average of each measured instance's time per output token. */
  speeds(): { instance: string; site: string; ms: number }[];
  /** The moving average of each measured instance's time per prompt token. */
  promptSpeeds(): { instance: string; site: string; ms: number }[];
  /** The moving average of each site's measured round-trip time. */
  rtts(): { site: string; ms: number }[];
}

export class RoutingMetrics {
  readonly decisions: Counter<'model' | 'site' | 'reason'>;
  readonly circuitOpen: Gauge<'instance' | 'site'>;
  readonly circuitTransitions: Counter<'to'>;
  readonly instanceUp: Gauge<'instance' | 'site'>;
  readonly retryBudgetExhausted: Counter;
  readonly inFlight: Gauge;
  readonly speed: Gauge<'instance' | 'site'>;
  readonly promptSpeed: Gauge<'instance' | 'site'>;
  readonly rtt: Gauge<'site'>;

  constructor(registry: Registry, view: RoutingView) {
    const registers = [registry];
    this.inFlight = new Gauge({
      name: 'edgefleet_gateway_requests_in_flight',
      help: 'Requests this gateway has sent to instances and not yet seen answered, failed or cancelled',
      registers,
      collect() {
        this.set(view.inFlight());
      },
    });
    this.speed = instanceMeasureGauge(
      registry,
      'edgefleet_gateway_instance_time_per_output_token_seconds',
      "The router's moving average of an instance's time per output token (what it ranks by)",
      () => view.speeds(),
    );
    this.promptSpeed = instanceMeasureGauge(
      registry,
      'edgefleet_gateway_instance_time_per_prompt_token_seconds',
      "The router's moving average of an instance's time per prompt token (its prompt term)",
      () => view.promptSpeeds(),
    );
    this.rtt = new Gauge({
      name: 'edgefleet_gateway_site_rtt_seconds',
      help: "The router's moving average of a site's round-trip time, from its health checks",
      labelNames: ['site'],
      registers,
      aggregator: 'average',
      collect() {
        this.reset();
        for (const { site, ms } of view.rtts()) this.set({ site }, ms / 1000);
      },
    });
    this.decisions = new Counter({
      name: 'edgefleet_gateway_routing_decisions_total',
      help: 'Instances chosen, one per attempt (a retried request counts each attempt), by model, site and reason (single, least_cost, tie, prefix_affinity, round_robin, spillover, unhealthy_fallback, breaker_fallback)',
      labelNames: ['model', 'site', 'reason'],
      registers,
    });
    this.circuitOpen = new Gauge({
      name: 'edgefleet_gateway_circuit_open',
      help: 'Whether the circuit breaker of an instance is open or half-open (1) or closed (0)',
      labelNames: ['instance', 'site'],
      registers,
      aggregator: 'max',
    });
    this.circuitTransitions = new Counter({
      name: 'edgefleet_gateway_circuit_transitions_total',
      help: 'Circuit breaker state changes, by the state entered (open, half-open, closed)',
      labelNames: ['to'],
      registers,
    });
    this.instanceUp = new Gauge({
      name: 'edgefleet_gateway_instance_up',
      help: 'Whether the last active health checks of an instance passed (1) or not (0)',
      labelNames: ['instance', 'site'],
      registers,
      aggregator: 'min',
    });
    this.retryBudgetExhausted = new Counter({
      name: 'edgefleet_gateway_retry_budget_exhausted_total',
      help: 'Refusals answered to the client because the retry budget was spent',
      registers,
    });
  }
}

/** A gauge of one measure per instance (in ms, shown in seconds), read from the router at scrape time. */
function instanceMeasureGauge(
  registry: Registry,
  name: string,
  help: string,
  read: () => { instance: string; site: string; ms: number }[],
): Gauge<'instance' | 'site'> {
  return new Gauge({
    name,
    help,
    labelNames: ['instance', 'site'],
    registers: [registry],
    aggregator: 'average',
    collect() {
      this.reset();
      for (const { instance, site, ms } of read()) this.set({ instance, site }, ms / 1000);
    },
  });
}
