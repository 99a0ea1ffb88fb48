/**
 * The fleet gateway: OpenAI-compatible routes (`/v1/models`, chat and text completions, embeddings)
 * sent to the instance of the requested model its Router chooses (client region, load, prefix affinity,
 * measured speed), with retries on another instance before the first byte, routing headers on every
 * answer, and its own Prometheus metrics. `start()` begins the active health checks, `close()` ends them.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Counter, Histogram, Registry } from 'prom-client';
import { answerCors, type CorsOrigins } from '../http/cors.js';
import { parseJsonBuffer, readBody } from '../http/read-json-body.js';
import { onlyRead, sendJson } from '../http/respond.js';
import type { KeyPrincipal } from '../spec/api-keys.js';
import { clipped, EdgeFleetError, methodNotAllowed, toOpenAiError } from '../spec/edgefleet-error.js';
import type { RouteInstance, RouteModel, RouteTable } from '../spec/route-table.js';
import type { Logger } from '../telemetry/logger.js';
import {
  RequestMeter,
  type AnswerObservation,
  type MeterContext,
  type RecordUsage,
} from './metering/request-meter.js';
import { allowsModel } from './auth/key-guard.js';
import { prepareBody } from './inference-request.js';
import { engineTokenCounter, type CountTokens } from './metering/engine-token-counter.js';
import { estimatePromptTokens } from './metering/estimate-tokens.js';
import { forwardWithFailover, type FailoverContext } from './routing/failover.js';
import { Router } from './routing/router.js';
import { defaultRoutingConfig, type RoutingConfig } from './routing/routing-config.js';
import { coldRetryAfterS, DeploymentWaker, notWaking } from './deployment-waker.js';
import { modelNotFound, modelsAnswer, notFoundFor } from './visible-models.js';

/** Where the gateway reads its routes; `refresh()` rebuilds now (used while waiting for an instance). */
export interface RouteSource {
  get(): Promise<RouteTable>;
  refresh(): Promise<RouteTable>;
  /**
   * False while no route table was ever loaded (a room gateway that has neither reached its control
   * plane nor a readable cache): a model it does not list may well exist, so requests get 503, not 404.
   */
  readonly loaded?: boolean;
}

export interface FleetGatewayOptions {
  routes: RouteSource;
  log: Logger;
  maxBodyBytes: number;
  /** How long a request waits for a running instance of its model (e.g. during an engine restart). */
  upstreamWaitMs: number;
  /** Instances tried per request before giving up (default: the routing config's, 3). */
  maxAttempts?: number;
  /** The routing policy and its settings (default: `defaultRoutingConfig()`). */
  routing?: RoutingConfig;
  /**
   * This gateway's region: the client's when neither its key, a header nor its address says (the config's
   * wins). A function when it may change (a room gateway's is its site's, as the control plane says).
   */
  region?: string | (() => string | null);
  /** The room this gateway serves (`edgefleet gateway --site`), kept in each usage record; none at the server's. */
  site?: string;
  /** API keys and their limits; absent: no credential needed and requests are metered as `anonymous`. */
  guard?: GatewayGuard;
  /** Writes one request's usage durably (the journal); awaited before the client gets the last bytes. */
  recordUsage?: RecordUsage;
  /**
   * Scale to zero: tells the control plane a request is in flight for this deployment (it records the
   * time, so the deployment is not scaled down, and starts one scaled to zero). Called only for
   * deployments that scale down (their route has `idleTimeoutMs`), without waiting, at most once per
   * `min(5 s, idleTimeoutMs / 4)` per deployment while requests are in flight.
   */
  activate?: (deploymentId: string) => Promise<void>;
  /** Counts an answer's tokens when its engine reported none (default: the instance's tokenizer API). */
  countTokens?: CountTokens;
  /** The web origins whose pages may call `/v1` (`--cors-origins`); absent: no CORS headers. */
  cors?: CorsOrigins;
}

/** What the gateway asks of API keys per request (KeyGuard implements it). */
export interface GatewayGuard {
  /** The caller of an `Authorization` header value; throws 401. */
  authenticate(authorization: string | undefined): Promise<KeyPrincipal>;
  /** Throws 403 (model not allowed) or 429 (limits) when the request may not go on. */
  admit(principal: KeyPrincipal, model: string): Promise<void>;
  /** Counts a finished request's tokens toward the key's limits; never throws. */
  record(principal: KeyPrincipal, promptTokens: number, completionTokens: number): Promise<void>;
}

/** The caller where no key is needed. */
const anonymous: KeyPrincipal = {
  keyId: 'anonymous',
  name: 'anonymous',
  role: 'inference',
  allowedModels: null,
  rpm: null,
  tpm: null,
  tokenBudget: null,
  region: null,
  tokensUsed: 0,
};

const inferencePaths = new Set(['/v1/chat/completions', '/v1/completions', '/v1/embeddings']);

/** The least time between two reads of the route table for model names it lacks. */
const unknownRefreshEveryMs = 250;

export class FleetGateway {
  readonly registry = new Registry();
  readonly router: Router;
  private readonly requests: Counter<'route' | 'model' | 'site' | 'status'>;
  private readonly duration: Histogram<'route'>;
  private readonly upstream: Counter<'model' | 'site' | 'outcome'>;
  private readonly retries: Counter<'model'>;
  private readonly meter: RequestMeter;
  /** What every request's failover needs of this gateway (made once). */
  private readonly failover: FailoverContext;
  /** Scale to zero: present when the gateway can start deployments (`activate`). */
  private readonly waker: DeploymentWaker | undefined;

  constructor(private readonly options: FleetGatewayOptions) {
    const registers = [this.registry];
    this.requests = new Counter({
      name: 'edgefleet_gateway_requests_total',
      help: 'Requests by route, model, site (room) that answered, and HTTP status',
      labelNames: ['route', 'model', 'site', 'status'],
      registers,
    });
    this.duration = new Histogram({
      name: 'edgefleet_gateway_request_duration_seconds',
      help: 'From request arrival to the last byte sent',
      labelNames: ['route'],
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120],
      registers,
    });
    this.upstream = new Counter({
      name: 'edgefleet_gateway_upstream_attempts_total',
      help: 'Requests sent to instances, by model, site and outcome (ok, broken, refused, aborted by the client)',
      labelNames: ['model', 'site', 'outcome'],
      registers,
    });
    this.retries = new Counter({
      name: 'edgefleet_gateway_retries_total',
      help: 'Requests tried again on another instance before the first byte',
      labelNames: ['model'],
      registers,
    });
    this.router = new Router(options.routing ?? defaultRoutingConfig(), {
      registry: this.registry,
      log: options.log,
      targets: async () => (await options.routes.get()).models.flatMap((m) => m.instances),
    });
    this.meter = new RequestMeter(
      this.registry,
      options.log,
      options.recordUsage,
      (model, instance, seen) => this.learn(model, instance, seen),
      options.countTokens ?? engineTokenCounter(),
      options.site ?? null,
    );
    this.waker = options.activate ? new DeploymentWaker(options.activate, options.log) : undefined;
    this.failover = {
      router: this.router,
      log: options.log,
      findModel: (name) => this.findModel(name),
      refreshRoutes: () => options.routes.refresh(),
      upstreamWaitMs: options.upstreamWaitMs,
      maxAttempts: options.maxAttempts ?? this.router.config.retry.maxAttempts,
      upstreamAttempts: this.upstream,
      retries: this.retries,
    };
  }

  /** Starts the active health checks of routed instances. */
  start(): void {
    this.router.start();
  }

  /** Stops the health checks (requests in flight are not touched). */
  async close(): Promise<void> {
    await this.router.stop();
  }

  /** An answer's verdict on its instance: speed and success, or a failure for its circuit breaker. */
  private learn(model: string, instance: RouteInstance, seen: AnswerObservation): void {
    if (seen.outcome === 'aborted') return;
    if (seen.outcome === 'broken') return this.router.onFailure(instance, 'broken');
    if (seen.status === 429) return this.router.onFailure(instance, 'busy');
    if (seen.status === 501) return; // the instance does not serve that route (embeddings); it is not failing
    if (seen.status >= 500) return this.router.onFailure(instance, 'error_status');
    this.router.onSuccess(instance, model, seen);
  }

  /** Handles one request under `/v1/`; errors are thrown for the caller's error responder. */
  async handle(request: IncomingMessage, response: ServerResponse, path: string): Promise<void> {
    const { cors } = this.options;
    // A preflight is answered here, and neither counted nor logged as a request of its route.
    if (cors !== undefined && answerCors(request, response, cors)) return;
    const startedAt = performance.now();
    const route = inferencePaths.has(path) || path === '/v1/models' ? path : 'other';
    // Filled in as the request goes: what the metrics and the access log line say about it.
    // `model` becomes a metric label only once it named a routed model (clients can send any string).
    const seen: { requested?: string; model: string; instance?: RouteInstance; keyId?: string } = {
      model: '',
    };
    response.once('close', () => {
      // Closed before any answer went out: the client left (499, as nginx logs it), not the default 200.
      const code = response.headersSent ? response.statusCode : 499;
      const status = String(code);
      const site = seen.instance?.siteName ?? '';
      const durationMs = performance.now() - startedAt;
      this.requests.inc({ route, model: seen.model, site, status });
      this.duration.observe({ route }, durationMs / 1000);
      this.options.log.info(
        {
          method: request.method,
          route,
          status: code,
          model: seen.requested?.slice(0, 256),
          site: site || undefined,
          instance: seen.instance?.id,
          keyId: seen.keyId,
          durationMs: Math.round(durationMs * 10) / 10,
          completed: response.writableFinished,
        },
        'request',
      );
    });
    const { guard } = this.options;
    const principal = guard ? await guard.authenticate(request.headers.authorization) : anonymous;
    seen.keyId = principal.keyId;
    if (path === '/v1/models' || path.startsWith('/v1/models/')) {
      // HEAD as GET without the body, as /health, /metrics and the dashboard files answer it.
      onlyRead(request, path);
      return this.listModels(response, path, principal);
    }
    if (!inferencePaths.has(path))
      throw new EdgeFleetError('not_found', `no route for ${request.method} ${clipped(path)}`);
    if (request.method !== 'POST') throw methodNotAllowed(request.method ?? '', path, ['POST']);
    const meterContext: MeterContext = {
      keyId: principal.keyId,
      route,
      arrivedAtMs: Date.now(),
      ...(guard && { onTokens: (prompt, completion) => void guard.record(principal, prompt, completion) }),
    };
    const raw = await readBody(request, this.options.maxBodyBytes);
    const parsed = parseJsonBuffer(raw);
    const { model, body, clientWantsUsage, stream } = prepareBody(parsed, raw, path);
    seen.requested = model;
    if (path !== '/v1/embeddings') {
      const { messages, prompt } = parsed as { messages?: unknown; prompt?: unknown };
      meterContext.prompt = { model, messages, prompt };
    }
    let stopWarm: () => void = () => undefined;
    try {
      if (guard) {
        // An unknown model is 404 before the key's limits count the request (a refused request counts
        // toward nothing). One the key may not use is 403 first, whether it exists or not.
        if (allowsModel(principal, model)) {
          await this.findModel(model);
          seen.model = model; // a routed model: the metrics of its 429s name it
        }
        await guard.admit(principal, model);
      }
      const { cold, stop } = this.waker ? this.waker.wake(await this.findModel(model)) : notWaking;
      stopWarm = stop;
      const { router } = this;
      await forwardWithFailover(cold ? { ...this.failover, retryAfterS: coldRetryAfterS } : this.failover, {
        request,
        response,
        model,
        path,
        body,
        stream,
        ...this.clientRegionOf(request, principal),
        prefixKey: path === '/v1/embeddings' ? undefined : router.prefixKey(parsed),
        promptTokens: estimatePromptTokens(meterContext.prompt),
        ...maxTokensOf(parsed),
        meterFor: (instance, sentToIdle) => {
          seen.instance = instance;
          seen.model = model;
          return this.meter.forAttempt(
            meterContext,
            model,
            instance,
            clientWantsUsage,
            () => response.destroyed,
            sentToIdle,
          );
        },
        abandoned: (instance, work) => this.meter.abandoned(meterContext, model, instance, work),
      });
    } catch (error) {
      // With the instance that refused it last, if one did: its room's errors show under its site.
      await this.meter.failed(meterContext, model, toOpenAiError(error).status, seen.instance);
      throw principal.allowedModels === null ? error : notFoundFor(principal, error);
    } finally {
      stopWarm();
    }
  }

  /** The client's region, and what said it (for the debug line: key, header, address, gateway). */
  private clientRegionOf(
    request: IncomingMessage,
    principal: KeyPrincipal,
  ): { clientRegion: string | null; clientRegionSource: string } {
    const header = request.headers['x-edgefleet-region'];
    const forwarded = request.headers['x-forwarded-for'];
    const address =
      this.router.config.trustForwardedFor && typeof forwarded === 'string'
        ? forwarded.split(',')[0]?.trim()
        : request.socket.remoteAddress;
    const { region, source } = this.router.clientRegion(
      { keyRegion: principal.region, headerRegion: Array.isArray(header) ? header[0] : header, address },
      typeof this.options.region === 'function' ? this.options.region() : (this.options.region ?? null),
    );
    return { clientRegion: region, clientRegionSource: source };
  }

  /** 503 while the route source has no table at all (what a 404 would say is not known). */
  private requireRoutes(): void {
    if (this.options.routes.loaded === false) {
      throw new EdgeFleetError(
        'store_unavailable',
        'this gateway has not loaded the route table from its control plane yet; retry shortly',
      );
    }
  }

  private async listModels(response: ServerResponse, path: string, principal: KeyPrincipal): Promise<void> {
    this.requireRoutes();
    sendJson(response, 200, modelsAnswer(await this.options.routes.get(), path, principal));
  }

  /** When the route table was last read again for a model name it lacked. */
  private unknownRefreshAtMs = 0;

  private async findModel(name: string): Promise<RouteModel> {
    const current = await this.options.routes.get();
    const known = current.models.find((m) => m.name === name);
    if (known) return known;
    // A deployment created a moment ago may not be in the table yet: read it again, but not more than
    // every 250 ms for names it lacks (a client sending made-up names must not keep the store busy).
    const nowMs = Date.now();
    const fresh = nowMs - this.unknownRefreshAtMs < unknownRefreshEveryMs;
    if (!fresh) this.unknownRefreshAtMs = nowMs;
    const table = fresh ? current : await this.options.routes.refresh();
    const found = table.models.find((m) => m.name === name);
    if (found) return found;
    this.requireRoutes();
    throw modelNotFound(
      name,
      table.models.map((m) => m.name),
    );
  }
}

/** `maxTokens` for the failover job: the request's `max_completion_tokens` or `max_tokens`, when set. */
function maxTokensOf(body: unknown): { maxTokens?: number } {
  const { max_completion_tokens: completion, max_tokens: tokens } = body as Record<string, unknown>;
  const max = typeof completion === 'number' ? completion : tokens;
  return typeof max === 'number' && Number.isInteger(max) && max > 0 ? { maxTokens: max } : {};
}
