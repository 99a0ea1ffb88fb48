/**
 * The router's Prometheus metrics: routing decisions by model, site and reason kind, open circuit
 * breakers and health-check verdicts per instance, requests whose retry the budget refused, and the
 * requests this gateway has in flight to instances (read at scrape time).
 */
import { Counter, Gauge, type Registry } from 'prom-client';

export class RoutingMetrics {
  readonly decisions: Counter<'model' | 'site' | 'reason'>;
  readonly circuitOpen: Gauge<'instance' | 'site'>;
  readonly circuitTransitions: Counter<'to'>;
  readonly instanceUp: Gauge<'instance' | 'site'>;
  readonly retryBudgetExhausted: Counter;
  readonly inFlight: Gauge;

  constructor(registry: Registry, inFlight: () => number) {
    const registers = [registry];
    this.inFlight = new Gauge({
      name: 'edgefleet_gateway_requests_in_flight',
      help: 'Requests this gateway has sent to instances and not yet seen answered, failed or cancelled',
      registers,
      collect() {
        this.set(inFlight());
      },
    });
    this.decisions = new Counter({
      name: 'edgefleet_gateway_routing_decisions_total',
      help: 'Instances chosen, by model, site and reason (single, least_cost, tie, prefix_affinity, round_robin, spillover, unhealthy_fallback)',
      labelNames: ['model', 'site', 'reason'],
      registers,
    });
    this.circuitOpen = new Gauge({
      name: 'edgefleet_gateway_circuit_open',
      help: 'Whether the circuit breaker of an instance is open or half-open (1) or closed (0)',
      labelNames: ['instance', 'site'],
      registers,
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
    });
    this.retryBudgetExhausted = new Counter({
      name: 'edgefleet_gateway_retry_budget_exhausted_total',
      help: 'Refusals answered to the client because the retry budget was spent',
      registers,
    });
  }
}
