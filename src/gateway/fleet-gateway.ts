/**
 * The fleet gateway: OpenAI-compatible routes (`/v1/models`, chat and text completions, embeddings)
 * sent to a running instance of the requested model, with retries on another instance before the
 * first byte, routing headers on every answer, and its own Prometheus metrics.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Counter, Histogram, Registry } from 'prom-client';
import { parseJsonBuffer, readBody } from '../http/read-json-body.js';
import { sendJson } from '../http/respond.js';
import { EdgeFleetError, toOpenAiError } from '../spec/edgefleet-error.js';
import type { RouteInstance, RouteModel, RouteTable } from '../spec/route-table.js';
import type { Logger } from '../telemetry/logger.js';
import { RequestMeter, type RecordUsage } from './metering/request-meter.js';
import { forwardRequest, UpstreamRefusedError, type ForwardMeter } from './streaming/forward-request.js';
import { InstancePicker, targetKey } from './routing/instance-picker.js';

/** Where the gateway reads its routes; `refresh()` rebuilds now (used while waiting for an instance). */
export interface RouteSource {
  get(): Promise<RouteTable>;
  refresh(): Promise<RouteTable>;
}

export interface FleetGatewayOptions {
  routes: RouteSource;
  log: Logger;
  maxBodyBytes: number;
  /** How long a request waits for a running instance of its model (e.g. during an engine restart). */
  upstreamWaitMs: number;
  /** Instances tried per request before giving up (default 3). */
  maxAttempts?: number;
  /**
   * Throws `unauthorized`/`forbidden` to refuse a request, else names the caller for metering;
   * absent: no credential needed and requests are metered as `anonymous`.
   */
  authorize?: (request: IncomingMessage) => Promise<RequestPrincipal>;
  /** Writes one request's usage durably (the journal); awaited before the client gets the last bytes. */
  recordUsage?: RecordUsage;
}

export interface RequestPrincipal {
  keyId: string;
}

const inferencePaths = new Set(['/v1/chat/completions', '/v1/completions', '/v1/embeddings']);

export class FleetGateway {
  readonly registry = new Registry();
  private readonly picker = new InstancePicker();
  private readonly requests: Counter<'route' | 'status'>;
  private readonly duration: Histogram<'route'>;
  private readonly upstream: Counter<'model' | 'site' | 'outcome'>;
  private readonly retries: Counter<'model'>;
  private readonly meter: RequestMeter;

  constructor(private readonly options: FleetGatewayOptions) {
    const registers = [this.registry];
    this.requests = new Counter({
      name: 'edgefleet_gateway_requests_total',
      help: 'Requests by route and HTTP status',
      labelNames: ['route', 'status'],
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
      help: 'Requests sent to instances, by model, site and outcome (ok, broken, refused)',
      labelNames: ['model', 'site', 'outcome'],
      registers,
    });
    this.retries = new Counter({
      name: 'edgefleet_gateway_retries_total',
      help: 'Requests tried again on another instance before the first byte',
      labelNames: ['model'],
      registers,
    });
    this.meter = new RequestMeter(this.registry, options.log, options.recordUsage);
  }

  /** Handles one request under `/v1/`; errors are thrown for the caller's error responder. */
  async handle(request: IncomingMessage, response: ServerResponse, path: string): Promise<void> {
    const startedAt = performance.now();
    const route = inferencePaths.has(path) || path === '/v1/models' ? path : 'other';
    response.once('close', () => {
      this.requests.inc({ route, status: String(response.statusCode) });
      this.duration.observe({ route }, (performance.now() - startedAt) / 1000);
    });
    const principal = (await this.options.authorize?.(request)) ?? { keyId: 'anonymous' };
    if (path === '/v1/models' || path.startsWith('/v1/models/')) {
      if (request.method !== 'GET') throw new EdgeFleetError('method_not_allowed', `use GET for ${path}`);
      return this.listModels(response, path);
    }
    if (!inferencePaths.has(path))
      throw new EdgeFleetError('not_found', `no route for ${request.method} ${path}`);
    if (request.method !== 'POST') throw new EdgeFleetError('method_not_allowed', `use POST for ${path}`);
    const meterContext = { keyId: principal.keyId, route, arrivedAtMs: Date.now() };
    const raw = await readBody(request, this.options.maxBodyBytes);
    const { model, body, clientWantsUsage } = prepareBody(parseJsonBuffer(raw), raw, path);
    try {
      await this.forward(request, response, model, body, (instance) =>
        this.meter.forAttempt(meterContext, model, instance, clientWantsUsage, () => response.destroyed),
      );
    } catch (error) {
      await this.meter.failed(meterContext, model, toOpenAiError(error).status);
      throw error;
    }
  }

  private async listModels(response: ServerResponse, path: string): Promise<void> {
    const table = await this.options.routes.get();
    const asModel = (m: RouteModel) => ({
      id: m.name,
      object: 'model',
      created: Math.floor(m.createdAtMs / 1000),
      owned_by: 'edgefleet',
      meta: {
        status: m.status,
        instances: m.instances.length,
        sites: [...new Set(m.instances.map((i) => i.siteName))],
        ...m.meta,
      },
    });
    if (path === '/v1/models') {
      return sendJson(response, 200, { object: 'list', data: table.models.map(asModel) });
    }
    const id = decodeURIComponent(path.slice('/v1/models/'.length));
    const found = table.models.find((m) => m.name === id);
    if (!found)
      throw new EdgeFleetError('model_not_found', `the model "${id}" does not exist`, { param: 'model' });
    return sendJson(response, 200, asModel(found));
  }

  private async findModel(name: string): Promise<RouteModel> {
    const known = (await this.options.routes.get()).models.find((m) => m.name === name);
    if (known) return known;
    // A deployment created a moment ago may not be in the table yet.
    const table = await this.options.routes.refresh();
    const found = table.models.find((m) => m.name === name);
    if (found) return found;
    const names = table.models.map((m) => m.name);
    throw new EdgeFleetError(
      'model_not_found',
      `the model "${name}" does not exist${names.length > 0 ? `; available: ${names.slice(0, 20).join(', ')}` : ''}`,
      { param: 'model' },
    );
  }

  private async forward(
    request: IncomingMessage,
    response: ServerResponse,
    modelName: string,
    body: Buffer,
    meterFor: (instance: RouteInstance) => ForwardMeter,
  ): Promise<void> {
    const { log, upstreamWaitMs } = this.options;
    const maxAttempts = this.options.maxAttempts ?? 3;
    const deadline = Date.now() + upstreamWaitMs;
    const tried = new Set<string>();
    let lastError: EdgeFleetError | undefined;
    let clientGone = false;
    response.once('close', () => (clientGone = true));
    for (let attempt = 1; attempt <= maxAttempts && !clientGone;) {
      const model = await this.findModel(modelName);
      const pick = this.picker.pick(model.instances, tried);
      if (!pick) {
        if (Date.now() >= deadline) break;
        await new Promise((resolve) => setTimeout(resolve, 200));
        await this.options.routes.refresh();
        continue;
      }
      const { instance, reason } = pick;
      tried.add(targetKey(instance));
      if (attempt > 1) this.retries.inc({ model: modelName });
      const release = this.picker.begin(instance.id);
      const labels = { model: modelName, site: instance.siteName };
      try {
        const result = await forwardRequest({ request, response }, instance.url, body, {
          extraHeaders: { 'x-edgefleet-site': instance.siteName, 'x-edgefleet-instance': instance.id },
          refuseErrorStatus: attempt < maxAttempts,
          meter: meterFor(instance),
        });
        this.upstream.inc({ ...labels, outcome: result.completed ? 'ok' : 'broken' });
        log.debug(
          {
            model: modelName,
            instance: instance.id,
            site: instance.siteName,
            attempt,
            status: result.status,
            why: reason,
          },
          'routed',
        );
        return;
      } catch (error) {
        if (!(error instanceof UpstreamRefusedError) || response.headersSent) throw error;
        this.upstream.inc({ ...labels, outcome: 'refused' });
        this.picker.markFailed(instance);
        lastError = error;
        log.warn(
          {
            model: modelName,
            instance: instance.id,
            site: instance.siteName,
            attempt,
            reason: error.message,
          },
          'instance refused the request before the first byte; trying another',
        );
        attempt += 1;
      } finally {
        release();
      }
    }
    if (clientGone) return;
    if (lastError) throw lastError;
    const model = await this.findModel(modelName);
    const why = model.statusReason
      ? `: ${model.status}, ${model.statusReason}`
      : ` (deployment ${model.status})`;
    throw new EdgeFleetError(
      'engine_unavailable',
      `no running instance of "${modelName}" is available${why}; retry shortly`,
    );
  }
}

/**
 * The `model` of an inference request body, and the body to send on: a stream asks the engine for
 * `stream_options.include_usage` (the gateway meters every request; the usage chunk reaches the
 * client only if it asked for it).
 */
function prepareBody(
  parsed: unknown,
  raw: Buffer,
  path: string,
): { model: string; body: Buffer; clientWantsUsage: boolean } {
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new EdgeFleetError('invalid_request', 'the request body must be a JSON object');
  }
  const fields = parsed as { model?: unknown; stream?: unknown; stream_options?: unknown };
  if (typeof fields.model !== 'string' || fields.model.length === 0) {
    throw new EdgeFleetError('invalid_request', 'model: a model name (string) is required', {
      param: 'model',
    });
  }
  const options = fields.stream_options;
  const clientWantsUsage =
    typeof options === 'object' &&
    options !== null &&
    (options as { include_usage?: unknown }).include_usage === true;
  const canAsk =
    path !== '/v1/embeddings' &&
    fields.stream === true &&
    !clientWantsUsage &&
    (options === undefined || (typeof options === 'object' && options !== null && !Array.isArray(options)));
  if (!canAsk) return { model: fields.model, body: raw, clientWantsUsage };
  const body = Buffer.from(
    JSON.stringify({
      ...fields,
      stream_options: { ...(options as object | undefined), include_usage: true },
    }),
  );
  return { model: fields.model, body, clientWantsUsage };
}
