import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { answerClientErrors } from '../../http/client-errors.js';
import { trackConnections, type TrackedConnections } from '../../http/graceful-close.js';
import { parseWith, readJsonBody } from '../../http/read-json-body.js';
import { requireBearer } from '../../http/bearer-secret.js';
import { onlyRead, sendError, sendJson } from '../../http/respond.js';
import { clipped, EdgeFleetError, methodNotAllowed } from '../../spec/edgefleet-error.js';
import {
  chatCompletionRequestSchema,
  completionRequestSchema,
  type ChatCompletionRequest,
  type CompletionRequest,
} from '../../spec/openai-requests.js';
import type { ModelList } from '../../spec/openai-responses.js';
import type { Logger } from '../../telemetry/logger.js';
import { serveGeneration, type Endpoint } from './completion-handler.js';
import { EngineMetrics } from './engine-metrics.js';
import type { EngineOptions } from './engine-options.js';
import { prepareChat, prepareCompletion } from './generation-request.js';
import type { LlamaRuntime } from './llama-runtime.js';

export type EngineStatus = { state: 'loading' } | { state: 'ready' } | { state: 'error'; message: string };

/**
 * The embedded engine's HTTP API: OpenAI's chat and text completions, /v1/models, /health and /metrics.
 * It listens before the model is loaded so that /health can say "loading". With an engine key every
 * route but /health requires it (401 otherwise). Stopping, it drains: no new generation (503, which a
 * gateway retries on another instance), the ones in flight finish.
 */
export class EngineServer {
  readonly server: Server;
  readonly metrics: EngineMetrics;
  private status: EngineStatus = { state: 'loading' };
  private runtime: LlamaRuntime | undefined;
  private readonly createdAt = Math.floor(Date.now() / 1000);
  private readonly connections: TrackedConnections;
  private draining = false;

  constructor(
    private readonly options: EngineOptions,
    private readonly log: Logger,
  ) {
    this.metrics = new EngineMetrics(options.modelId);
    this.server = createServer({ keepAliveTimeout: 65_000 }, (request, response) => {
      this.route(request, response).catch((error: unknown) => {
        if (error instanceof EdgeFleetError) this.metrics.errors.inc({ code: error.code });
        else this.log.error({ err: error }, 'request failed');
        sendError(response, error);
      });
    });
    this.server.requestTimeout = 0; // generations may be long; clients and gateways bound them
    answerClientErrors(this.server);
    this.connections = trackConnections(this.server);
  }

  /**
   * Stops taking requests (/health answers 503 "stopping", a new generation 503) and lets those in
   * flight finish for up to `graceMs`; then every connection is closed. Resolves when none is open.
   */
  drain(graceMs: number): Promise<void> {
    this.draining = true;
    return this.connections.close(graceMs);
  }

  setRuntime(runtime: LlamaRuntime): void {
    this.runtime = runtime;
    this.status = { state: 'ready' };
    this.metrics.setRuntimeProbes({
      kvUsage: () => {
        const used = runtime.sequences.reduce(
          (sum, sequence) => sum + (runtime.slots.isBusy(sequence) ? sequence.nextTokenIndex : 0),
          0,
        );
        return used / (runtime.contextSize * runtime.sequences.length);
      },
      prefillChunk: () => runtime.gate.prefillChunk,
    });
  }

  setError(message: string): void {
    this.status = { state: 'error', message };
  }

  private async route(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const receivedAt = performance.now();
    const path = (request.url ?? '/').split('?')[0] ?? '/';
    const method = request.method ?? 'GET';
    if (path === '/health') {
      onlyRead(request, path);
      return this.health(response);
    }
    if (this.options.apiKey !== undefined) requireBearer(request, this.options.apiKey);
    if (path === '/metrics' && method === 'GET') {
      const body = await this.metrics.registry.metrics();
      response.writeHead(200, { 'content-type': this.metrics.registry.contentType });
      response.end(body);
      return;
    }
    if (path === '/v1/models') {
      onlyRead(request, path);
      return sendJson(response, 200, this.models());
    }
    const endpoint: Endpoint | undefined =
      path === '/v1/chat/completions' ? 'chat' : path === '/v1/completions' ? 'completion' : undefined;
    if (path === '/v1/embeddings') {
      throw new EdgeFleetError(
        'not_implemented',
        'the embedded llama.cpp engine does not serve embeddings; for /v1/embeddings deploy an embedding ' +
          'model with an engine that serves it (vllm), or register a server that does (edgefleet endpoints add)',
      );
    }
    if (endpoint === undefined)
      throw new EdgeFleetError('not_found', `no route for ${method} ${clipped(path)}`);
    if (method !== 'POST') throw methodNotAllowed(method, path, ['POST']);
    const body = await readJsonBody(request, this.options.maxBodyBytes);
    const runtime = this.ready();
    const parsed =
      endpoint === 'chat'
        ? parseWith(chatCompletionRequestSchema, body)
        : parseWith(completionRequestSchema, body);
    if (parsed.model !== this.options.modelId) {
      throw new EdgeFleetError(
        'model_not_found',
        `The model "${parsed.model}" does not exist here; this engine serves "${this.options.modelId}"`,
        { param: 'model' },
      );
    }
    const prepared =
      endpoint === 'chat'
        ? prepareChat(runtime, parsed as ChatCompletionRequest)
        : prepareCompletion(runtime, parsed as CompletionRequest);
    await serveGeneration(
      {
        runtime,
        metrics: this.metrics,
        log: this.log,
        modelId: this.options.modelId,
        endpoint,
        stream: parsed.stream === true,
        includeUsage: parsed.stream_options?.include_usage === true,
        receivedAt,
      },
      prepared,
      response,
    );
  }

  private ready(): LlamaRuntime {
    if (this.draining) {
      throw new EdgeFleetError('engine_unavailable', 'the engine is stopping; another instance may answer');
    }
    if (this.runtime) return this.runtime;
    if (this.status.state === 'error') {
      throw new EdgeFleetError('engine_unavailable', `the model failed to load: ${this.status.message}`);
    }
    throw new EdgeFleetError('engine_loading', 'the model is still loading; retry shortly');
  }

  private health(response: ServerResponse): void {
    const runtime = this.runtime;
    sendJson(response, this.status.state === 'ready' && !this.draining ? 200 : 503, {
      status: this.draining ? 'stopping' : this.status.state,
      ...(this.status.state === 'error' && { error: this.status.message }),
      model: this.options.modelId,
      ...(runtime && {
        slots: {
          total: runtime.sequences.length,
          idle: runtime.slots.available,
          waiting: runtime.slots.waiting,
        },
        contextSize: runtime.contextSize,
        gpu: runtime.llama.gpu,
      }),
    });
  }

  private models(): ModelList {
    return {
      object: 'list',
      data: [
        {
          id: this.options.modelId,
          object: 'model',
          created: this.createdAt,
          owned_by: 'edgefleet',
          meta: { ...this.options.meta, contextSize: this.runtime?.contextSize ?? this.options.contextSize },
        },
      ],
    };
  }
}
