import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Store } from '../../store/store.js';

/** The control plane's Prometheus metrics, in a registry of their own. */
export class ServerMetrics {
  readonly registry = new Registry();
  readonly requests = new Counter({
    name: 'edgefleet_server_http_requests_total',
    help: 'HTTP requests answered by the control plane, by route group and status',
    labelNames: ['route', 'status'] as const,
    registers: [this.registry],
  });
  readonly requestSeconds = new Histogram({
    name: 'edgefleet_server_http_request_duration_seconds',
    help: 'Time to answer a control-plane HTTP request',
    labelNames: ['route'] as const,
    buckets: [0.005, 0.01, 0.05, 0.1, 0.5, 1, 5],
    registers: [this.registry],
  });
  readonly reconciles = new Counter({
    name: 'edgefleet_server_reconcile_passes_total',
    help: 'Reconcile passes, by outcome (leader, follower, error)',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });

  constructor(store: Store) {
    collectDefaultMetrics({ register: this.registry, prefix: 'edgefleet_server_' });
    new Gauge({
      name: 'edgefleet_nodes',
      help: 'Registered, not revoked nodes by status',
      labelNames: ['status'] as const,
      registers: [this.registry],
      async collect() {
        const nodes = (await store.listNodes()).filter((n) => n.revokedAtMs === null);
        this.set({ status: 'up' }, nodes.filter((n) => n.status === 'up').length);
        this.set({ status: 'down' }, nodes.filter((n) => n.status === 'down').length);
      },
    });
    new Gauge({
      name: 'edgefleet_nodes_down',
      help:
        'Registered, not revoked nodes that are down, by why: left (their worker shut down and said so), ' +
        'no_heartbeat (silent past the node timeout), unknown (down before reasons were recorded)',
      labelNames: ['reason'] as const,
      registers: [this.registry],
      async collect() {
        const down = (await store.listNodes()).filter((n) => n.revokedAtMs === null && n.status === 'down');
        for (const reason of ['left', 'no_heartbeat', 'unknown'] as const) {
          this.set({ reason }, down.filter((n) => (n.downReason ?? 'unknown') === reason).length);
        }
      },
    });
    new Gauge({
      name: 'edgefleet_nodes_maintenance',
      help: 'Registered, not revoked nodes taken out of scheduling: cordoned, or draining their instances',
      labelNames: ['maintenance'] as const,
      registers: [this.registry],
      async collect() {
        const nodes = (await store.listNodes()).filter((n) => n.revokedAtMs === null);
        for (const maintenance of ['cordoned', 'draining'] as const) {
          this.set({ maintenance }, nodes.filter((n) => n.maintenance === maintenance).length);
        }
      },
    });
    new Gauge({
      name: 'edgefleet_instances',
      help: 'Model instances by state',
      labelNames: ['state'] as const,
      registers: [this.registry],
      async collect() {
        this.reset();
        for (const instance of await store.listInstances()) this.inc({ state: instance.state });
      },
    });
    new Gauge({
      name: 'edgefleet_deployments',
      help: 'Deployments by status',
      labelNames: ['status'] as const,
      registers: [this.registry],
      async collect() {
        this.reset();
        for (const deployment of await store.listDeployments()) this.inc({ status: deployment.status });
      },
    });
    new Gauge({
      name: 'edgefleet_endpoints',
      help: 'Registered external endpoints by health as last checked (unknown: not checked yet)',
      labelNames: ['health'] as const,
      registers: [this.registry],
      async collect() {
        const endpoints = await store.listEndpoints();
        for (const health of ['healthy', 'unhealthy', 'unknown'] as const)
          this.set({ health }, endpoints.filter((e) => e.health === health).length);
      },
    });
  }
}
