import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { readBody } from '../http/read-json-body.js';
import { sendError, sendJson } from '../http/respond.js';
import { EdgeFleetError } from '../spec/edgefleet-error.js';
import type { Logger } from '../telemetry/logger.js';
import { forwardRequest } from './forward-request.js';

/** Where the gateway finds its one upstream; `edgefleet up` backs this with the engine supervisor. */
export interface UpstreamSource {
  /** Base URL while the upstream is ready, else undefined. */
  current(): string | undefined;
  /** Waits up to `timeoutMs` for the upstream to be ready again (e.g. during an engine restart). */
  waitForReady(timeoutMs: number): Promise<string | undefined>;
  status(): Record<string, unknown>;
}

export interface LocalGatewayOptions {
  source: UpstreamSource;
  log: Logger;
  maxBodyBytes: number;
  /** How long a request waits for a restarting engine before it gets 503. */
  upstreamWaitMs: number;
}

/**
 * The front door of `edgefleet up`: OpenAI-compatible routes forwarded to the local engine, a health
 * endpoint that tells the engine's state, and Prometheus metrics. It holds the port while the engine
 * restarts, so clients get a short wait or a clear 503 instead of "connection refused".
 */
export class LocalGateway {
  readonly server: Server;
  private readonly registry = new Registry();
  private readonly requests: Counter<'route' | 'status'>;
  private readonly duration: Histogram<'route'>;

  constructor(private readonly options: LocalGatewayOptions) {
    collectDefaultMetrics({ register: this.registry, prefix: 'edgefleet_gateway_process_' });
    this.requests = new Counter({
      name: 'edgefleet_gateway_requests_total',
      help: 'Requests by route and HTTP status',
      labelNames: ['route', 'status'],
      registers: [this.registry],
    });
    this.duration = new Histogram({
      name: 'edgefleet_gateway_request_duration_seconds',
      help: 'From request arrival to the last byte sent',
      labelNames: ['route'],
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120],
      registers: [this.registry],
    });
    this.server = createServer({ keepAliveTimeout: 65_000 }, (request, response) => {
      const startedAt = performance.now();
      const route = (request.url ?? '/').split('?')[0] ?? '/';
      response.on('close', () => {
        const known =
          route.startsWith('/v1/') || route === '/health' || route === '/metrics' ? route : 'other';
        this.requests.inc({ route: known, status: String(response.statusCode) });
        this.duration.observe({ route: known }, (performance.now() - startedAt) / 1000);
      });
      this.route(request, response, route).catch((error: unknown) => {
        if (!(error instanceof EdgeFleetError)) options.log.error({ err: error }, 'request failed');
        sendError(response, error);
      });
    });
    this.server.requestTimeout = 0;
  }

  /** The engine's own metrics, appended so one scrape of `edgefleet up` shows both (names do not overlap). */
  private async upstreamMetrics(): Promise<string> {
    const upstream = this.options.source.current();
    if (!upstream) return '';
    try {
      const response = await fetch(`${upstream}/metrics`, { signal: AbortSignal.timeout(2000) });
      return response.ok ? `\n${await response.text()}` : '';
    } catch {
      return '';
    }
  }

  private async route(request: IncomingMessage, response: ServerResponse, path: string): Promise<void> {
    if (path === '/health') {
      const upstream = this.options.source.status();
      const ready = this.options.source.current() !== undefined;
      return sendJson(response, ready ? 200 : 503, {
        status: ready ? 'ready' : 'unavailable',
        engine: upstream,
      });
    }
    if (path === '/metrics') {
      response.writeHead(200, { 'content-type': this.registry.contentType });
      response.end((await this.registry.metrics()) + (await this.upstreamMetrics()));
      return;
    }
    if (!path.startsWith('/v1/'))
      throw new EdgeFleetError('not_found', `no route for ${request.method} ${path}`);
    const body = await readBody(request, this.options.maxBodyBytes);
    let upstream = this.options.source.current();
    for (let attempt = 0; attempt < 2; attempt++) {
      upstream ??= await this.options.source.waitForReady(this.options.upstreamWaitMs);
      if (!upstream) {
        throw new EdgeFleetError(
          'engine_unavailable',
          'the engine is not ready (starting or restarting); retry shortly',
        );
      }
      try {
        await forwardRequest({ request, response }, upstream, body);
        return;
      } catch (error) {
        if (attempt === 1 || !(error instanceof EdgeFleetError) || response.headersSent) throw error;
        this.options.log.warn({ err: error.message }, 'engine unreachable before the first byte; retrying');
        upstream = undefined;
      }
    }
  }
}
