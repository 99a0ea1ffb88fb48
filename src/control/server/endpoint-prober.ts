/**
 * Health checks of external endpoints: every `intervalMs` the control plane asks each endpoint for
 * `GET {url}/v1/models` (with its upstream key) and records healthy (a 2xx within `timeoutMs`) or the
 * error. Only healthy endpoints enter the route table (route-table.ts). Its `GET {url}/metrics` is
 * read at the same time: when it holds an engine's load gauges (vLLM, SGLang, llama.cpp,
 * MindIE, EdgeFleet's engine), its requests running and waiting and KV-cache use go into the route
 * table as a worker's report of its engine would, so the gateway routes by them.
 */
import { HttpClient, type HttpAnswer } from '../../http/http-request.js';
import { isConnectionResetCode } from '../../http/stale-connection.js';
import { loadOfAnyEngine, type EngineLoad } from '../../spec/engine-metrics.js';
import type { Store } from '../../store/store.js';
import type { Endpoint } from '../../store/store-types.js';
import type { Logger } from '../../telemetry/logger.js';
import type { InstanceLoads } from './instance-loads.js';

export interface EndpointProberOptions {
  store: Store;
  log: Logger;
  /** Where the engine loads read from the endpoints' metrics go (the route table's loads). */
  loads?: InstanceLoads;
  /** Default 5000. */
  intervalMs?: number;
  /** Default 3000. */
  timeoutMs?: number;
}

export interface EndpointCheckResult {
  healthy: boolean;
  error: string | null;
}

/** One check of one endpoint (retried once on a stale keep-alive connection); never throws. */
export async function checkEndpoint(endpoint: Endpoint, timeoutMs: number): Promise<EndpointCheckResult> {
  const first = await checkOnce(endpoint, timeoutMs);
  return first.stale ? checkOnce(endpoint, timeoutMs) : first;
}

/** A metrics page longer than this is not read (vLLM's is ~100 KB with many models and histograms). */
const maxMetricsBytes = 8 * 1024 * 1024;

/**
 * node:http rather than fetch: fetch refuses the ports browsers block (6000, 6665–6669, 10080…, "bad
 * port"), where a team's own server may listen and where the gateway (undici's dispatcher) reaches it.
 */
const client = new HttpClient({ maxResponseBytes: maxMetricsBytes });

/** `GET {url}{path}` with the endpoint's key. */
function getFrom(endpoint: Endpoint, path: string, timeoutMs: number): Promise<HttpAnswer> {
  return client.request(`${endpoint.url}${path}`, {
    method: 'GET',
    headers: endpoint.apiKey === null ? {} : { authorization: `Bearer ${endpoint.apiKey}` },
    timeoutMs,
  });
}

async function checkOnce(
  endpoint: Endpoint,
  timeoutMs: number,
): Promise<EndpointCheckResult & { stale?: boolean }> {
  try {
    const response = await getFrom(endpoint, '/v1/models', timeoutMs);
    if (response.ok) return { healthy: true, error: null };
    const answered = `GET /v1/models answered ${response.status} ${response.statusText}`.trim();
    if (response.status !== 401 && response.status !== 403) return { healthy: false, error: answered };
    const fix = `edgefleet endpoints update ${endpoint.id} --upstream-key K, or Edit… on the dashboard's Endpoints page`;
    const why = endpoint.apiKey === null ? 'it wants an API key' : 'it refuses the upstream key';
    return { healthy: false, error: `${answered}: ${why} (${fix})` };
  } catch (error) {
    // An HttpRequestError (no answer: its code, or "no answer within N ms"), or what node:http throws for
    // a header it cannot send.
    const code = (error as { code?: string }).code;
    const reason = code === undefined || code === 'ETIMEDOUT' ? (error as Error).message : code;
    // A pooled connection the upstream closed while idle: worth one more try.
    const stale = isConnectionResetCode(code);
    // The error is shown to every client of the model: never with the key in it (a header error quotes it,
    // with its ends trimmed; the trimmed key is inside every copy of the whole one).
    const key = endpoint.apiKey?.trim();
    const said = key === undefined || key === '' ? reason : reason.split(key).join('***');
    return { healthy: false, error: `GET /v1/models failed: ${said}`, stale };
  }
}

/**
 * The engine load in the endpoint's `/metrics`; null when it has none (no such page, not an engine's
 * gauges, no answer within `timeoutMs`). Never throws.
 */
export async function readEndpointLoad(endpoint: Endpoint, timeoutMs: number): Promise<EngineLoad | null> {
  try {
    const response = await getFrom(endpoint, '/metrics', timeoutMs);
    return response.ok ? loadOfAnyEngine(response.text) : null;
  } catch {
    // No answer, or one over maxMetricsBytes.
    return null;
  }
}

export class EndpointProber {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  /** A checkNow() waiting for the check in flight to end. */
  private next: Promise<void> | undefined;
  private readonly intervalMs: number;
  private readonly timeoutMs: number;

  constructor(private readonly options: EndpointProberOptions) {
    this.intervalMs = options.intervalMs ?? 5000;
    this.timeoutMs = options.timeoutMs ?? 3000;
  }

  /** Checks at once, then every `intervalMs` until `stop()`. */
  start(): void {
    if (this.timer) return;
    const tick = async () => {
      await this.probeOnce();
      if (this.timer) this.timer = setTimeout(() => void tick(), this.intervalMs);
    };
    this.timer = setTimeout(() => void tick(), 0);
  }

  /** Stops the loop and waits for a check in flight. */
  async stop(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.running;
  }

  /**
   * An endpoint was registered or changed: checks every endpoint now rather than at the next tick, so a new
   * endpoint is routed to (and a fixed key seen) within one check. A check in flight may have read the
   * endpoints before the change: then one more runs after it. Calls while one waits share it. Does nothing
   * before start() or after stop().
   */
  checkNow(): Promise<void> {
    if (this.timer === undefined) return Promise.resolve();
    this.next ??= (this.running ?? Promise.resolve()).then(() => {
      this.next = undefined;
      return this.timer === undefined ? undefined : this.probeOnce();
    });
    return this.next;
  }

  /** Checks every endpoint once (concurrently) and records the results; never throws. */
  probeOnce(): Promise<void> {
    this.running ??= this.probeAll().finally(() => (this.running = undefined));
    return this.running;
  }

  private async probeAll(): Promise<void> {
    const { store, log } = this.options;
    try {
      const endpoints = await store.listEndpoints();
      await Promise.all(
        endpoints.map(async (endpoint) => {
          // Both at once: a slow endpoint's round stays one timeout long, and its load fresh.
          const [result, load] = await Promise.all([
            checkEndpoint(endpoint, this.timeoutMs),
            this.options.loads ? readEndpointLoad(endpoint, this.timeoutMs) : null,
          ]);
          await store.recordEndpointCheck(endpoint.id, { healthy: result.healthy, error: result.error });
          if (result.healthy && load) {
            const { requestsRunning, requestsWaiting, kvCacheUsage } = load;
            this.options.loads!.record(endpoint.id, { requestsRunning, requestsWaiting, kvCacheUsage });
          }
          const was = endpoint.health;
          const now = result.healthy ? 'healthy' : 'unhealthy';
          if (was !== now) {
            const fields = {
              endpoint: endpoint.id,
              model: endpoint.model,
              url: endpoint.url,
              error: result.error,
            };
            if (result.healthy) log.info(fields, 'external endpoint is healthy');
            else log.warn(fields, 'external endpoint is unhealthy');
          }
        }),
      );
    } catch (error) {
      log.error({ err: error }, 'endpoint health checks failed');
    }
  }
}
