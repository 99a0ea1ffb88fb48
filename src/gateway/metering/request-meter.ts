/**
 * Meters each inference request the gateway answers: one UsageEvent (tokens, time to first token,
 * duration, outcome) handed to the journal before the client gets the last bytes, and the gateway's
 * token and latency metrics. A journal that cannot write (disk full) costs the record, not the answer:
 * the loss is logged and counted in `edgefleet_gateway_usage_journal_errors_total`. When an engine
 * answered without `usage`, the tokens are counted with the model's tokenizer through the instance
 * (`engine-token-counter.ts`); only when that fails are they estimated (`estimate-tokens.ts`: streamed
 * chunks, or the text's length; `usageEstimated`).
 */
import { randomUUID } from 'node:crypto';
import { Counter, Histogram, type Registry } from 'prom-client';
import type { RouteInstance } from '../../spec/route-table.js';
import type { UsageEvent } from '../../spec/usage-event.js';
import type { Logger } from '../../telemetry/logger.js';
import type { ForwardMeter, MeteredAnswer } from '../streaming/forward-types.js';
import type { TokenUsage } from '../streaming/sse-usage-relay.js';
import type { CountTokens, PromptToCount } from './engine-token-counter.js';
import { estimatePromptTokens, estimateTextTokens } from './estimate-tokens.js';

export type RecordUsage = (event: UsageEvent) => Promise<void>;

/** What one answer showed of its instance's speed (the router's feedback); told before the journal write. */
export interface AnswerObservation {
  status: number;
  outcome: UsageEvent['outcome'];
  ttftMs: number | null;
  /** After the first token (streams), else the whole answer's time over its tokens; null when too short. */
  timePerOutputTokenMs: number | null;
  completionTokens: number;
  promptTokens: number;
  /** From sending to this instance to the first generated text (streams); null when none came. */
  attemptTtftMs: number | null;
  /** The request was sent to an instance with nothing in flight (its first token waited on no other). */
  sentToIdle: boolean;
}

export type ObserveAnswer = (model: string, instance: RouteInstance, observed: AnswerObservation) => void;

export interface MeterContext {
  keyId: string;
  route: string;
  /** Epoch ms when the request arrived. */
  arrivedAtMs: number;
  /** Told the tokens of an answered request (the key's tpm and budget count them). */
  onTokens?: (promptTokens: number, completionTokens: number) => void;
  /** The request's prompt, for counting its tokens when the engine reports none. */
  prompt?: PromptToCount;
}

/** A non-streamed answer shorter than this says more about prefill than about generation speed. */
const minTokensForSpeed = 16;

/** Label sets kept per model and site (a bound: model names come from the route table, not from clients). */
const maxLabelSets = 1024;

interface MeterLabels {
  site: { model: string; site: string };
  prompt: { model: string; site: string; kind: string };
  completion: { model: string; site: string; kind: string };
}

export class RequestMeter {
  private readonly tokens: Counter<'model' | 'site' | 'kind'>;
  private readonly ttft: Histogram<'model' | 'site'>;
  private readonly tpot: Histogram<'model' | 'site'>;
  private readonly journalErrors: Counter;
  private readonly labels = new Map<string, MeterLabels>();

  constructor(
    registry: Registry,
    private readonly log: Logger,
    private readonly record?: RecordUsage,
    private readonly observe?: ObserveAnswer,
    private readonly countTokens?: CountTokens,
    /** The room of this gateway (a room gateway's `--site`); null for the control plane's own. */
    private readonly gatewaySite: string | null = null,
  ) {
    const registers = [registry];
    this.tokens = new Counter({
      name: 'edgefleet_gateway_tokens_total',
      help: 'Tokens through the gateway by model, site and kind (prompt, completion)',
      labelNames: ['model', 'site', 'kind'],
      registers,
    });
    this.ttft = new Histogram({
      name: 'edgefleet_gateway_time_to_first_token_seconds',
      help: 'Gateway arrival to the first generated text of a stream',
      labelNames: ['model', 'site'],
      buckets: [0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30],
      registers,
    });
    this.tpot = new Histogram({
      name: 'edgefleet_gateway_time_per_output_token_seconds',
      help: 'After the first token: time per further output token of a stream',
      labelNames: ['model', 'site'],
      buckets: [0.005, 0.01, 0.02, 0.04, 0.06, 0.1, 0.2, 0.5, 1],
      registers,
    });
    this.journalErrors = new Counter({
      name: 'edgefleet_gateway_usage_journal_errors_total',
      help: 'Usage records that could not be written to the journal (lost)',
      registers,
    });
  }

  /** The meter `forwardRequest` calls for one attempt on `instance`. */
  forAttempt(
    context: MeterContext,
    model: string,
    instance: RouteInstance,
    clientWantsUsage: boolean,
    clientGone: () => boolean,
    sentToIdle = false,
  ): ForwardMeter {
    const attempt = { atMs: Date.now(), sentToIdle };
    return {
      clientWantsUsage,
      beforeEnd: (answer) => this.finish(context, model, instance, answer, clientGone(), attempt),
    };
  }

  /**
   * The client left before any instance answered (while it waited for its limits, for an instance, or
   * for the answer's headers): status 499, as nginx logs a client that closed its request. `work`: what
   * the instance likely did meanwhile (estimated), charged to the key.
   */
  async abandoned(
    context: MeterContext,
    model: string,
    instance?: RouteInstance,
    work?: TokenUsage,
  ): Promise<void> {
    const promptTokens = work?.promptTokens ?? 0;
    const completionTokens = work?.completionTokens ?? 0;
    const event = this.event(context, model, instance, 499, 'aborted', promptTokens, completionTokens);
    if (instance && promptTokens + completionTokens > 0) {
      event.usageEstimated = true;
      context.onTokens?.(promptTokens, completionTokens);
      const labels = this.labelsOf(model, instance.siteName);
      this.tokens.inc(labels.prompt, promptTokens);
      this.tokens.inc(labels.completion, completionTokens);
    }
    await this.write(event);
  }

  /** A request answered with an error before any instance answered (no instance, refused, limits). */
  async failed(
    context: MeterContext,
    model: string,
    status: number,
    instance?: RouteInstance,
  ): Promise<void> {
    await this.write(this.event(context, model, instance, status, 'error', 0, 0));
  }

  private async finish(
    context: MeterContext,
    model: string,
    instance: RouteInstance,
    answer: MeteredAnswer,
    clientGone: boolean,
    attempt: { atMs: number; sentToIdle: boolean },
  ): Promise<TokenUsage | null> {
    // A client that left once the engine was generating had its prompt processed: it is charged that and
    // what it was sent. (Engines answer 200 before they schedule a request: one that left while queued
    // is not charged; an answer the engine broke is charged only what was sent.)
    const generating = answer.firstTextAtMs !== null || answer.textChunks > 0;
    const chargeable =
      answer.status < 400 && (answer.completed || (clientGone && !answer.engineFailed && generating));
    const counted = answer.usage === null && chargeable ? await this.count(context, instance, answer) : null;
    const estimated =
      answer.usage === null && counted === null && chargeable ? estimate(context, answer) : null;
    const usage = answer.usage ?? counted ?? estimated;
    const promptTokens = usage?.promptTokens ?? 0;
    const completionTokens = usage?.completionTokens ?? answer.textChunks;
    const ttftMs = answer.firstTextAtMs === null ? null : answer.firstTextAtMs - context.arrivedAtMs;
    // A client that hangs up on the engine's error event (the openai client does) did not abort.
    const outcome = answer.engineFailed
      ? 'broken'
      : clientGone
        ? 'aborted'
        : !answer.completed
          ? 'broken'
          : answer.status >= 400
            ? 'error'
            : 'ok';
    const event = this.event(
      context,
      model,
      instance,
      answer.status,
      outcome,
      promptTokens,
      completionTokens,
    );
    event.ttftMs = ttftMs;
    event.usageEstimated = answer.usage === null && counted === null && promptTokens + completionTokens > 0;
    context.onTokens?.(promptTokens, completionTokens);
    const labels = this.labelsOf(model, instance.siteName);
    this.tokens.inc(labels.prompt, promptTokens);
    this.tokens.inc(labels.completion, completionTokens);
    let timePerOutputTokenMs: number | null = null;
    if (ttftMs !== null) {
      this.ttft.observe(labels.site, ttftMs / 1000);
      if (completionTokens > 1) {
        timePerOutputTokenMs = (event.durationMs - ttftMs) / (completionTokens - 1);
        this.tpot.observe(labels.site, timePerOutputTokenMs / 1000);
      }
    } else if (completionTokens >= minTokensForSpeed) {
      // This instance's own time: a retried request also waited on the instances tried before it.
      timePerOutputTokenMs = Math.max(0, Date.now() - attempt.atMs) / completionTokens;
    }
    this.observe?.(model, instance, {
      status: event.status,
      outcome,
      ttftMs,
      timePerOutputTokenMs,
      completionTokens,
      promptTokens,
      attemptTtftMs: answer.firstTextAtMs === null ? null : Math.max(0, answer.firstTextAtMs - attempt.atMs),
      sentToIdle: attempt.sentToIdle,
    });
    await this.write(event);
    return counted ?? estimated;
  }

  /**
   * The metric labels of a model and site, made once: every answer counts tokens under them, and
   * prom-client keeps the first labels object it is given for a series (never changed afterwards).
   */
  private labelsOf(model: string, site: string): MeterLabels {
    const key = `${model}\n${site}`;
    let labels = this.labels.get(key);
    if (!labels) {
      if (this.labels.size >= maxLabelSets) this.labels.clear();
      labels = {
        site: { model, site },
        prompt: { model, site, kind: 'prompt' },
        completion: { model, site, kind: 'completion' },
      };
      this.labels.set(key, labels);
    }
    return labels;
  }

  /** The answer's tokens by the model's tokenizer, for a chargeable answer that came without usage. */
  private async count(
    context: MeterContext,
    instance: RouteInstance,
    answer: MeteredAnswer,
  ): Promise<TokenUsage | null> {
    if (!this.countTokens || !context.prompt) return null;
    const text = answer.generatedText();
    if (text === null) return null;
    return this.countTokens(instance, context.prompt, text);
  }

  /** One request's usage record (`ttftMs` and `usageEstimated` for the caller to fill in when known). */
  private event(
    context: MeterContext,
    model: string,
    instance: RouteInstance | undefined,
    status: number,
    outcome: UsageEvent['outcome'],
    promptTokens: number,
    completionTokens: number,
  ): UsageEvent {
    return {
      id: randomUUID(),
      atMs: context.arrivedAtMs,
      keyId: context.keyId,
      // The name the client sent (an unknown model's too), cut to what a usage record holds.
      model: model.length > maxModelChars ? model.slice(0, maxModelChars) : model,
      siteName: instance?.siteName ?? null,
      gatewaySite: this.gatewaySite,
      instanceId: instance?.id ?? null,
      route: context.route,
      durationMs: Math.max(0, Date.now() - context.arrivedAtMs),
      status,
      outcome,
      promptTokens,
      completionTokens,
      ttftMs: null,
      usageEstimated: false,
    };
  }

  private async write(event: UsageEvent): Promise<void> {
    if (!this.record) return;
    try {
      await this.record(event);
    } catch (error) {
      this.journalErrors.inc();
      this.log.error(
        {
          err: error instanceof Error ? error.message : String(error),
          requestId: event.id,
          model: event.model,
        },
        'usage record lost: the journal could not be written',
      );
    }
  }
}

/** The longest model name a usage record holds (usageEventSchema). */
const maxModelChars = 256;

/**
 * The usage of a chargeable answer (completed, or left by its client) that came without one and could
 * not be counted with the tokenizer: the prompt estimated from its text, the completion as the stream's
 * text chunks (about one token each) or estimated from a JSON answer's text.
 */
function estimate(context: MeterContext, answer: MeteredAnswer): TokenUsage | null {
  const text = answer.textChunks > 0 ? null : answer.generatedText();
  const completionTokens = text === null ? answer.textChunks : estimateTextTokens(text);
  const promptTokens = estimatePromptTokens(context.prompt);
  return promptTokens + completionTokens > 0 ? { promptTokens, completionTokens } : null;
}
