/**
 * The route table: what a gateway needs to know to send a request for a model to an instance. The
 * control plane builds it from its store; a gateway in the same process reads it directly.
 */

/** One running instance a gateway may send requests to. */
export interface RouteInstance {
  id: string;
  deploymentId: string;
  nodeId: string;
  nodeName: string;
  siteId: string;
  siteName: string;
  region: string | null;
  /** Base URL of the instance's OpenAI-compatible server, without `/v1` (e.g. `http://10.0.0.5:41234`). */
  url: string;
  /**
   * The bearer secret the gateway sends upstream (`Authorization: Bearer <apiKey>`) instead of the
   * client's header: an EdgeFleet instance's engine key, or the upstream API key of an external
   * endpoint. Absent for an open upstream.
   */
  apiKey?: string;
  /**
   * The name the upstream serves the model under, when clients use another (an external endpoint's
   * `upstreamModel`): the gateway sends it as the request's `model`.
   */
  upstreamModel?: string;
  /** The engine's load as its worker last reported it (from the engine's Prometheus metrics). */
  load?: InstanceLoad;
}

export interface InstanceLoad {
  requestsRunning: number;
  requestsWaiting: number;
  /** KV-cache use 0–1, or null when the engine exports no such gauge. */
  kvCacheUsage: number | null;
  /** When the worker read it (epoch ms). */
  atMs: number;
}

/** One deployment by the name clients put in `model`. */
export interface RouteModel {
  name: string;
  deploymentId: string;
  status: string;
  /** Why the deployment has no running instance, when it has none. */
  statusReason: string | null;
  createdAtMs: number;
  instances: RouteInstance[];
  /**
   * The deployment is idle and scaled to zero (`minReplicas: 0`): a request for it should ask the control
   * plane to start it (the gateway's `activate` hook), then wait for an instance.
   */
  scaledToZero?: boolean;
  /**
   * Present when the deployment scales down while idle (`minReplicas` below `replicas`): the gateway
   * reports requests for it (the `activate` hook) often enough that a busy one is never scaled down.
   */
  idleTimeoutMs?: number;
  /** Extra facts shown in `/v1/models` (e.g. `up`'s model source and whether it is a demo model). */
  meta?: Record<string, unknown>;
}

/** A site (machine room) the control plane knows. */
export interface RouteSite {
  id: string;
  name: string;
  region: string | null;
}

export interface RouteTable {
  builtAtMs: number;
  models: RouteModel[];
  /**
   * Every site the control plane knows (absent from an older control plane): a room gateway checks its
   * `--site` against them and takes its site's region when it was given none.
   */
  sites?: RouteSite[];
}

/**
 * `http://host:port` for an engine port on a node whose advertised address is `host` or `host:port`
 * (IPv6 literals with or without brackets).
 */
export function instanceBaseUrl(nodeAddress: string, port: number): string {
  let host = nodeAddress.trim();
  const bracketed = /^\[([^\]]+)\](?::\d+)?$/.exec(host);
  if (bracketed) host = bracketed[1]!;
  else if (/^[^:]+:\d+$/.test(host)) host = host.slice(0, host.lastIndexOf(':'));
  return `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
}

/**
 * Where to reach a server bound to `host` on this machine: a wildcard address (`0.0.0.0`, `::`, none)
 * is reached on loopback of the same family.
 */
export function reachableBaseUrl(host: string | undefined, port: number): string {
  const reachable =
    host === undefined || host === '' || host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '::1' : host;
  return instanceBaseUrl(reachable, port);
}
