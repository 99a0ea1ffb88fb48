/**
 * Sends one request to the instance the router chooses and, when that instance refuses before the first
 * byte (unreachable, 5xx, 429), to the next best — within the attempt limit, the time limit and the
 * retry budget. With no instance to choose (none running, or all cooling down), waits for one up to the
 * upstream wait, re-reading the route table. Once a byte has reached the client there is no retry.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Counter } from 'prom-client';
import { headerValue } from '../../http/header-value.js';
import { EdgeFleetError } from '../../spec/edgefleet-error.js';
import type { RouteInstance, RouteModel } from '../../spec/route-table.js';
import type { Logger } from '../../telemetry/logger.js';
import { forwardRequest } from '../streaming/forward-request.js';
import { UpstreamRefusedError, type ForwardMeter } from '../streaming/forward-types.js';
import type { TokenUsage } from '../streaming/sse-usage-relay.js';
import { abandonedWork } from './abandoned-work.js';
import { targetKey, type Router } from './router.js';

export interface FailoverContext {
  router: Router;
  log: Logger;
  findModel(name: string): Promise<RouteModel>;
  refreshRoutes(): Promise<unknown>;
  upstreamWaitMs: number;
  /** Sent as `retry-after` with the 503 when no instance came up in time (a deployment starting from zero). */
  retryAfterS?: number;
  maxAttempts: number;
  upstreamAttempts: Counter<'model' | 'site' | 'outcome'>;
  retries: Counter<'model'>;
}

export interface FailoverRequest {
  request: IncomingMessage;
  response: ServerResponse;
  model: string;
  /** The API path (`/v1/embeddings`), for instances known not to serve it. */
  path: string;
  body: Buffer;
  /** The client asked for a stream (`stream: true`). */
  stream: boolean;
  clientRegion: string | null;
  /** What said the client's region (key, header, address, gateway, none): for the debug line. */
  clientRegionSource?: string;
  prefixKey: string | undefined;
  /** The prompt in estimated tokens, for the prompt processing it adds where it is sent (0: not counted). */
  promptTokens?: number;
  /** The request's `max_completion_tokens` or `max_tokens`, when it sets one. */
  maxTokens?: number;
  /** `sentToIdle`: the instance had nothing in flight when this attempt was sent (`Router.isIdle`). */
  meterFor: (instance: RouteInstance, sentToIdle: boolean) => ForwardMeter;
  /**
   * The client left before any instance answered (`instance`: the one that had the request, if any;
   * `work`: what it likely did, estimated, for a non-streamed request it had while otherwise idle).
   */
  abandoned: (instance: RouteInstance | undefined, work?: TokenUsage) => Promise<void>;
}

const pollMs = 200;
/** `retry-after` of a 503 when no instance of the model runs (none placed, or all starting). */
const noInstanceRetryAfterS = 5;

export async function forwardWithFailover(context: FailoverContext, job: FailoverRequest): Promise<void> {
  const { router, log, maxAttempts } = context;
  const { request, response, model: modelName } = job;
  const arrivedAtMs = router.now();
  const deadline = arrivedAtMs + context.upstreamWaitMs;
  const tried = new Set<string>();
  let lastError: UpstreamRefusedError | undefined;
  let refreshedAfterRefusal = false;
  /** Set when every instance sits out past the wait: when the first comes back (seconds from now). */
  let backInS: number | undefined;
  /** Wait a poll before the next try (the instance could not be reached; it may be coming back). */
  let pauseBeforeNext = false;
  // The client may have left already, while the request waited for its key's limits.
  let clientGone = response.destroyed;
  response.once('close', () => (clientGone = true));
  router.onRequest();
  for (let attempt = 1; attempt <= maxAttempts && !clientGone;) {
    const model = await context.findModel(modelName);
    // The client may have left while the routes were read (the forward would not see it go).
    if (clientGone) break;
    const choice = router.choose(modelName, model.instances, {
      clientRegion: job.clientRegion,
      prefixKey: job.prefixKey,
      exclude: tried,
      path: job.path,
      promptTokens: job.promptTokens ?? 0,
    });
    if (!choice) {
      if (router.now() >= deadline) break;
      // Refusals can come from a stale table (an instance removed since): read the routes once more first.
      if (lastError && !refreshedAfterRefusal) {
        refreshedAfterRefusal = true;
        await context.refreshRoutes();
        continue;
      }
      // Every instance refused already: the client gets the refusal now rather than after the wait. With
      // none listed (a deployment starting again) the request waits for one like any other, and so it
      // does when none could be reached: an engine that just died is listed until the control plane
      // hears of it, and comes back under a new address (or the table drops it).
      const allTried =
        lastError && model.instances.length > 0 && model.instances.every((i) => tried.has(targetKey(i)));
      if (allTried && lastError?.upstreamStatus !== null) break;
      // Every instance left sits out (open breakers) past the wait: waiting would only delay the 503.
      const freeAtMs = router.blockedUntilMs(model.instances, tried);
      if (freeAtMs !== undefined && freeAtMs > deadline) {
        backInS = Math.max(1, Math.ceil((freeAtMs - router.now()) / 1000));
        break;
      }
      await new Promise((resolve) => setTimeout(resolve, pollMs));
      await context.refreshRoutes();
      continue;
    }
    const { instance } = choice;
    tried.add(targetKey(instance));
    if (attempt > 1) context.retries.inc({ model: modelName });
    const sentToIdle = router.isIdle(instance);
    const sentAtMs = router.now();
    const release = router.begin(instance, job.promptTokens ?? 0);
    const onAnswered = router.trialVerdict(instance);
    const site = instance.siteName;
    try {
      const body =
        instance.upstreamModel === undefined ? job.body : withModel(job.body, instance.upstreamModel);
      const result = await forwardRequest({ request, response }, instance.url, body, {
        extraHeaders: {
          'x-edgefleet-site': headerValue(instance.siteName),
          'x-edgefleet-instance': instance.id,
        },
        refuseErrorStatus: attempt < maxAttempts,
        wantsStream: job.stream,
        meter: job.meterFor(instance, sentToIdle),
        ...(instance.apiKey !== undefined && { upstreamApiKey: instance.apiKey }),
        watchUnanswered: (abort) => router.watchDown(instance, abort),
        ...(onAnswered && { onAnswered }),
        firstByteTimeoutMs: router.config.timeouts.firstByteMs,
        idleTimeoutMs: router.config.timeouts.idleMs,
      });
      const outcome = result.completed ? 'ok' : clientGone ? 'aborted' : 'broken';
      context.upstreamAttempts.inc({ model: modelName, site, outcome });
      if (outcome === 'broken') {
        log.warn(
          { model: modelName, instance: instance.id, site, attempt, status: result.status },
          'the answer broke after its first bytes reached the client; it was ended with an error',
        );
      }
      if (log.isLevelEnabled('debug')) {
        log.debug(
          {
            model: modelName,
            instance: instance.id,
            site,
            attempt,
            status: result.status,
            clientRegion: job.clientRegion,
            clientRegionFrom: job.clientRegionSource,
            tried: attempt > 1 ? [...tried].filter((key) => key !== targetKey(instance)) : undefined,
            reason: choice.kind,
            why: choice.reason(),
          },
          'routed',
        );
      }
      return;
    } catch (error) {
      if (!(error instanceof UpstreamRefusedError) || response.headersSent) throw error;
      if (clientGone) {
        // The client left and the gateway cut the upstream request: no verdict on the instance.
        context.upstreamAttempts.inc({ model: modelName, site, outcome: 'aborted' });
        // A stream is answered (headers) before the engine schedules it: one left before that cost nothing.
        // Embeddings generate nothing, and their input is not estimated: no charge there.
        let work: TokenUsage | undefined;
        if (!job.stream && sentToIdle && job.path !== '/v1/embeddings') {
          const { promptMs, outputMs } = router.speedsOf(instance);
          work = abandonedWork(
            router.now() - sentAtMs,
            job.promptTokens ?? 0,
            promptMs,
            outputMs,
            job.maxTokens,
          );
        }
        await job.abandoned(instance, work);
        return;
      }
      context.upstreamAttempts.inc({ model: modelName, site, outcome: 'refused' });
      const status = error.upstreamStatus;
      // 501: the instance does not serve this route (embeddings on a chat engine); it is not failing.
      if (status === 501) {
        // Remembered for embeddings only: a chat or completions 501 may be about one request's features.
        if (job.path === '/v1/embeddings') router.onUnsupported(instance, job.path);
      } else
        router.onFailure(
          instance,
          status === null ? 'unreachable' : status === 429 ? 'busy' : 'error_status',
        );
      // A 501 does not hide an earlier refusal: an instance that serves the route failed (retryable),
      // and the instance that does not serve it was only asked because no other was left.
      if (status !== 501 || lastError === undefined || lastError.upstreamStatus === 501) lastError = error;
      const late = router.now() - arrivedAtMs > router.config.retry.maxElapsedMs;
      // The budget is spent only on a retry that can happen: with every listed instance tried, one dead
      // single-instance model would otherwise use up every model's retries. (Refusals can come from a
      // stale table, an instance removed since: the routes are read once more before giving up, and a
      // model that then lists none, starting again, is waited for as any request waits for one.)
      const untried = (m: RouteModel) =>
        m.instances.length === 0 || m.instances.some((i) => !tried.has(targetKey(i)));
      let another = untried(model);
      if (!another && !refreshedAfterRefusal && attempt < maxAttempts && !late) {
        refreshedAfterRefusal = true;
        await context.refreshRoutes();
        another = untried(await context.findModel(modelName));
      }
      // Sent to an instance that sat out for its error answers (every one did): the others sit out for the
      // same, and the error is likely about this request. Not tried on each: that would spend the retry
      // budget of every model on one client's request.
      const heldBack = choice.kind === 'breaker_fallback' && status !== null && status >= 500;
      // A 501 costs no retry budget: trying an instance that serves the route is not extra load.
      const willRetry =
        attempt < maxAttempts && !late && another && !heldBack && (status === 501 || router.tryRetry());
      // None left, and no connection could be made to this one (nothing of the request reached it: an
      // engine that just died): wait for it to come back under its address (a process engine restarts on
      // its port) or for the table to list its successor (the embedded engine comes back on a new port),
      // as for a deployment starting again. It is tried again as its breaker lets it; these tries spend no
      // attempt, and the upstream wait and the retry time limit bound them. A request that reached the
      // engine (a reset, a broken answer) is not sent again: it may be what crashed it.
      const waitForAnother = !another && error.notConnected && !late && router.now() < deadline;
      // A 501 is an answer about the route, expected where chat and embedding servers share a model name.
      log[status === 501 ? 'debug' : 'warn'](
        {
          model: modelName,
          instance: instance.id,
          site,
          attempt,
          reason: error.message,
          detail: causeText(error.cause), // with the address, which the client is not told
          // Why this instance was chosen (built only for a refusal: few requests are refused).
          chosenBecause: `${choice.kind}: ${choice.reason()}`,
        },
        willRetry
          ? 'instance refused the request before the first byte; trying another'
          : waitForAnother
            ? 'instance could not be reached; waiting for another to be listed'
            : `instance refused the request before the first byte; not retried (${
                attempt >= maxAttempts
                  ? 'attempts spent'
                  : late
                    ? 'time limit spent'
                    : !another
                      ? 'no other instance'
                      : heldBack
                        ? 'every instance sits out for error answers'
                        : 'retry budget spent'
              })`,
      );
      if (!willRetry && !waitForAnother) throw finalRefusal(lastError, backInS);
      if (waitForAnother) {
        tried.delete(targetKey(instance));
        pauseBeforeNext = true;
        // A 501 spends no attempt either: the instances tried (`tried`) bound the loop.
      } else if (status !== 501) attempt += 1;
    } finally {
      release();
    }
    // Outside the attempt: the instance does not count this request as in flight while it waits.
    if (pauseBeforeNext) {
      pauseBeforeNext = false;
      await new Promise((resolve) => setTimeout(resolve, pollMs));
      await context.refreshRoutes();
    }
  }
  if (clientGone) return job.abandoned(undefined);
  if (lastError) throw finalRefusal(lastError, backInS);
  const model = await context.findModel(modelName);
  if (model.instances.length > 0) {
    // Breakers cool down within seconds: a client told when to come back does not hammer the room meanwhile.
    const retryAfterS = backInS ?? 1;
    throw new EdgeFleetError(
      'engine_unavailable',
      `every instance of "${modelName}" is failing (circuit breakers open or cooling down); retry after ${retryAfterS} s`,
      { data: { retryAfterS } },
    );
  }
  const why = model.statusReason
    ? `: ${model.status}, ${model.statusReason}`
    : ` (deployment ${model.status})`;
  const { retryAfterS } = context;
  if (retryAfterS !== undefined) {
    throw new EdgeFleetError(
      'engine_unavailable',
      `"${modelName}" is starting from zero replicas and no instance is running yet${why}; retry after ${retryAfterS} s`,
      { data: { retryAfterS } },
    );
  }
  // An engine starting or being placed takes seconds at the least.
  throw new EdgeFleetError(
    'engine_unavailable',
    `no running instance of "${modelName}" is available${why}; retry after ${noInstanceRetryAfterS} s`,
    { data: { retryAfterS: noInstanceRetryAfterS } },
  );
}

/**
 * The refusal the client gets. After waiting for an instance that could not be reached it says when to
 * come back: when the first breaker lets an instance be tried (`backInS`), else as for an engine that is
 * starting. An instance's own `retry-after` wins.
 */
function finalRefusal(error: UpstreamRefusedError, backInS: number | undefined): UpstreamRefusedError {
  const retryAfterS = backInS ?? (error.notConnected ? noInstanceRetryAfterS : undefined);
  if (retryAfterS === undefined || error.data['retryAfterS'] !== undefined) return error;
  return new UpstreamRefusedError(
    error.message,
    error.upstreamStatus,
    error.cause,
    retryAfterS,
    error.notConnected,
  );
}

/**
 * The request body with `model` set to the name the instance serves it under (an external endpoint
 * registered with `upstreamModel`; vLLM refuses any name but its served one). Bodies reach here as
 * validated JSON objects.
 */
function withModel(body: Buffer, model: string): Buffer {
  return Buffer.from(JSON.stringify({ ...(JSON.parse(body.toString('utf8')) as object), model }));
}

/** What a refusal's underlying error said (each attempt of a connection to several addresses), or undefined. */
function causeText(cause: unknown): string | undefined {
  if (!(cause instanceof Error)) return undefined;
  const errors = cause instanceof AggregateError ? (cause.errors as unknown[]) : [];
  const messages = errors.map((e) => (e instanceof Error ? e.message : String(e)));
  return messages.length > 0 ? messages.join('; ') : cause.message;
}
