/**
 * What `edgefleet up` adds around the control plane for its one local model: a join token for the
 * in-process worker, a `/health` that tells the local engine's state, and the engine's metrics in
 * `/metrics` so one scrape shows the gateway and the engine.
 */
import { joinTokenTtlMs, newSecret } from '../control/server/secrets.js';
import { hashSecret } from '../http/bearer-secret.js';
import type { RouteSource } from '../gateway/fleet-gateway.js';
import type { RouteTable } from '../spec/route-table.js';
import type { Store } from '../store/store.js';
import type { Deployment } from '../store/store-types.js';
import type { WorkerAgent } from '../worker/agent/worker-agent.js';

/** A single-use join token for the local worker; only its hash is stored and it is never written out. */
export async function mintLocalJoinToken(store: Store): Promise<string> {
  const token = newSecret('join');
  await store.createJoinToken({ tokenHash: hashSecret(token), expiresAtMs: Date.now() + joinTokenTtlMs });
  return token;
}

export interface UpModelInfo {
  source: string;
  demo: boolean;
  note?: string;
}

/** 200 `ready` while an instance of the deployment runs, else 503 `unavailable`, with the engine's state. */
export async function upHealth(
  routes: RouteSource,
  agent: () => WorkerAgent | undefined,
  deployment: Deployment,
  model: UpModelInfo,
): Promise<{ status: number; body: unknown }> {
  const table = await routes.get();
  const route = table.models.find((m) => m.deploymentId === deployment.id);
  const engine = agent()?.engineStatus(deployment.id) ?? { state: 'starting', restarts: 0 };
  // The route table lags the engine by up to a reconcile pass: a dead engine stays listed a moment.
  const ready = (route?.instances.length ?? 0) > 0 && engine.state === 'ready';
  return {
    status: ready ? 200 : 503,
    body: {
      status: ready ? 'ready' : 'unavailable',
      engine: {
        ...engine,
        model: deployment.name,
        source: model.source,
        demo: model.demo,
        ...(model.note && { note: model.note }),
      },
      deployment: { status: route?.status ?? 'pending', reason: route?.statusReason ?? null },
    },
  };
}

/** The local engine's own Prometheus text (its names do not overlap the gateway's), or '' when it is down. */
export async function upMetrics(routes: RouteSource, deploymentId: string): Promise<string> {
  const route = (await routes.get()).models.find((m) => m.deploymentId === deploymentId);
  const instance = route?.instances[0];
  if (!instance) return '';
  try {
    const response = await fetch(`${instance.url}/metrics`, {
      signal: AbortSignal.timeout(2000),
      ...(instance.apiKey !== undefined && { headers: { authorization: `Bearer ${instance.apiKey}` } }),
    });
    return response.ok ? await response.text() : '';
  } catch {
    return '';
  }
}

/** The route source of `up`: the store's, with the model's source and demo flag on its deployment. */
export function withUpModelMeta(routes: RouteSource, deploymentId: string, model: UpModelInfo): RouteSource {
  const decorate = (table: RouteTable): RouteTable => ({
    ...table,
    models: table.models.map((m) =>
      m.deploymentId === deploymentId
        ? { ...m, meta: { source: model.source, demo: model.demo, ...(model.note && { note: model.note }) } }
        : m,
    ),
  });
  return {
    get: async () => decorate(await routes.get()),
    refresh: async () => decorate(await routes.refresh()),
  };
}
