/**
 * Draining a process engine before it is stopped. llama-server and vLLM (without `--shutdown-timeout`)
 * abort the answers in flight on SIGTERM (SGLang's HTTP server waits for them itself), so a worker that
 * retires an instance first waits for them, reading the engine's own load from its /metrics, as llm-d and
 * KServe wait before they let Kubernetes send SIGTERM to a model server.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { EngineLoad } from '../../spec/engine-metrics.js';
import type { Logger } from '../../telemetry/logger.js';

export interface DrainOptions {
  /** How long gateways may still send it new requests (they learn of a removed instance within ~1 s). */
  routeDelayMs: number;
  /** The longest drain, route delay included. */
  timeoutMs: number;
  pollMs?: number;
  /** Ends the drain early (the worker is closing). */
  signal?: AbortSignal;
}

/**
 * How a drain ended: `idle` (two reads in a row, `pollMs` apart, found nothing running or waiting),
 * `not serving` (the engine was not ready: nothing to drain), `exited` (the engine exited meanwhile),
 * `time limit`, `cut short` (the signal aborted), `metrics unreadable` (no read ever said what is in
 * flight), `follower` (a rank that serves no API waited the whole time, while its group's head drains).
 */
export type DrainEnd =
  'idle' | 'not serving' | 'exited' | 'time limit' | 'cut short' | 'metrics unreadable' | 'follower';

export interface DrainResult {
  end: DrainEnd;
  /** The most requests seen running or waiting at once. */
  maxInFlight: number;
  /** Running and waiting at the last readable scrape; null before any. */
  inFlight: number | null;
}

export interface DrainTarget {
  /** False once the engine process has exited. */
  running(): boolean;
  /** One /metrics read (undefined when it failed); null for an engine that serves no API. */
  readLoad: ((signal: AbortSignal) => Promise<EngineLoad | undefined>) | null;
}

/** Waits `routeDelayMs`, then until the engine is idle, within `timeoutMs` in all (see DrainEnd). */
export async function drainEngine(target: DrainTarget, options: DrainOptions): Promise<DrainResult> {
  const { routeDelayMs, timeoutMs, pollMs = 250, signal } = options;
  const deadline = Date.now() + timeoutMs;
  const left = () => Math.max(0, deadline - Date.now());
  const pause = (ms: number) =>
    sleep(Math.min(ms, left()), undefined, signal && { signal }).catch(() => undefined);
  let maxInFlight = 0;
  let inFlight: number | null = null;
  let zeros = 0;
  const end = (how: DrainEnd): DrainResult => ({ end: how, maxInFlight, inFlight });
  await pause(routeDelayMs);
  for (;;) {
    if (!target.running()) return end('exited');
    if (signal?.aborted) return end('cut short');
    if (target.readLoad === null) {
      if (left() === 0) return end('follower');
    } else {
      const timeout = AbortSignal.timeout(Math.max(1, Math.min(5000, left())));
      const load = await target.readLoad(signal ? AbortSignal.any([timeout, signal]) : timeout);
      if (!target.running()) return end('exited');
      if (signal?.aborted) return end('cut short');
      if (load !== undefined && load.queueUnknown !== true) {
        inFlight = load.requestsRunning + load.requestsWaiting;
        maxInFlight = Math.max(maxInFlight, inFlight);
        zeros = inFlight === 0 ? zeros + 1 : 0;
        // Two reads: an engine may count an answer done just before it sends its last chunk.
        if (zeros >= 2) return end('idle');
      } else if (inFlight === null) {
        return end('metrics unreadable'); // one failed read after good ones is waited out
      }
      if (left() === 0) return end('time limit');
    }
    await pause(pollMs);
  }
}

/** The worker's log line for how a drain that took `drainMs` ended (nothing for an engine not serving). */
export function logDrainEnd(log: Logger, result: DrainResult, drainMs: number): void {
  const { end, maxInFlight, inFlight } = result;
  const fields = { drainMs, maxInFlight };
  if (end === 'idle' || end === 'follower') log.info(fields, 'engine drained');
  else if (end === 'time limit')
    log.warn({ ...fields, inFlight }, 'engine drain ended with answers in flight');
  else if (end === 'exited') log.warn(fields, 'engine exited during its drain');
  else if (end === 'metrics unreadable')
    log.warn(fields, 'engine drain ended: its metrics do not say what is in flight');
  else if (end === 'cut short') log.info({ ...fields, inFlight }, 'engine drain cut short: the worker stops');
}
