/**
 * Several processes for one room gateway behind one port (`edgefleet gateway --workers N`), so a gateway
 * uses more than one CPU core. The primary listens and forks N workers (node:cluster); each runs the whole
 * standalone gateway (its own route and key pulls, health checks, circuit breakers and usage journal)
 * and serves the connections the primary hands it in turn (connection-handout.ts). The primary restarts
 * a worker that dies, stops all of them on SIGINT or SIGTERM, and answers a worker's `/metrics` with the
 * metrics of every worker added up (prom-client's AggregatorRegistry; each gauge says how it adds up). Key
 * limits must be shared through Redis: a worker's own counters would let each key N times its limit.
 */
import cluster, { type Worker } from 'node:cluster';
import { once } from 'node:events';
import { createServer, type AddressInfo } from 'node:net';
import { AggregatorRegistry, type Registry } from 'prom-client';
import type { Logger } from '../../telemetry/logger.js';
import { ConnectionHandout, readyMessage } from './connection-handout.js';

/** Set in each worker's environment: its index, 0 … N−1 (its journal is named after it). */
export const workerIndexVariable = 'EDGEFLEET_GATEWAY_WORKER';
/** Set in each worker's environment: the port the primary listens on. */
const workerPortVariable = 'EDGEFLEET_GATEWAY_PORT';

const metricsRequest = 'edgefleet:gateway-metrics';
const metricsReply = 'edgefleet:gateway-metrics-text';
/** A worker that lives shorter than this is restarted after a growing pause (1 s, 2 s, … 30 s). */
const settledAfterMs = 10_000;

/** This process's worker index and its primary's port when it is one of several gateway workers, else null. */
export function gatewayWorker(): { index: number; port: number } | null {
  const index = process.env[workerIndexVariable];
  const port = process.env[workerPortVariable];
  if (!cluster.isWorker || index === undefined || port === undefined) return null;
  return /^\d+$/.test(index) && /^\d+$/.test(port) ? { index: Number(index), port: Number(port) } : null;
}

export interface GatewayWorkersOptions {
  count: number;
  log: Logger;
  /** Where the primary listens. */
  host: string;
  port: number;
  /** Called once, when every worker serves. */
  onListening(address: AddressInfo): void;
  /** The first pause before restarting a worker that died young; it doubles per death up to 30×. */
  restartBackoffMs?: number;
}

/**
 * Runs the primary: listens (rejects when it cannot: a port in use), forks the workers (each runs this
 * program again, with the same arguments; the first alone, the others once it serves) and supervises them
 * until SIGINT or SIGTERM, then stops them (SIGTERM; each finishes its requests and ships its journal) and
 * resolves with 0. Resolves with 1 when a worker exits or cannot be started before all of them served (a
 * start-up error, such as a bad certificate, that the worker or this process has printed).
 */
export async function runGatewayWorkers(options: GatewayWorkersOptions): Promise<number> {
  const { count, log } = options;
  const handout = new ConnectionHandout(log);
  // Paused: the primary reads nothing; the worker it hands the connection to reads all of it.
  const listener = createServer({ pauseOnConnect: true, noDelay: true }, (socket) => handout.handOut(socket));
  listener.listen(options.port, options.host);
  await once(listener, 'listening');
  // Accepting can fail later (out of file descriptors): say so (once per 10 s); the listener goes on.
  let acceptErrorLoggedAtMs = -Infinity;
  let acceptErrorsUnlogged = 0;
  listener.on('error', (error) => {
    if (Date.now() - acceptErrorLoggedAtMs < 10_000) return void (acceptErrorsUnlogged += 1);
    log.error({ err: error, since: acceptErrorsUnlogged }, 'the gateway could not accept a connection');
    acceptErrorLoggedAtMs = Date.now();
    acceptErrorsUnlogged = 0;
  });
  const address = listener.address() as AddressInfo;
  const backoffMs = options.restartBackoffMs ?? 1000;
  const aggregator = new AggregatorRegistry();
  const workers = new Map<number, Worker>();
  const quickDeaths = new Map<number, number>();
  const restartTimers = new Set<NodeJS.Timeout>();
  /** The workers that served since the start (until all have, a worker's death stops the gateway). */
  const started = new Set<number>();
  let listening = false;
  let stopping = false;
  let finish: (code: number) => void = () => undefined;
  const finished = new Promise<number>((resolve) => (finish = resolve));
  let exitCode = 0;

  const stop = (code: number) => {
    exitCode = Math.max(exitCode, code);
    if (stopping) return;
    stopping = true;
    for (const timer of restartTimers) clearTimeout(timer);
    restartTimers.clear();
    listener.close();
    handout.close();
    // Not a worker whose spawn failed (no pid, its 'error' still to come, then `gone`): Node's kill() on
    // it signals pid 0, which is this process's whole process group.
    for (const worker of workers.values())
      if (worker.process.pid !== undefined) worker.process.kill('SIGTERM');
    if (workers.size === 0) finish(exitCode);
  };

  /**
   * A worker is gone: it exited, or its process could not be started at all (spawn failed). Before all
   * workers served that is a start-up error and stops the gateway; after, it is started again, after a
   * pause that grows while it keeps dying young.
   */
  const gone = (index: number, startedAtMs: number, details: object, what: string) => {
    const worker = workers.get(index);
    workers.delete(index);
    if (worker !== undefined) handout.gone(worker);
    if (stopping) {
      if (workers.size === 0) finish(exitCode);
      return;
    }
    if (!listening) {
      log.error({ worker: index, ...details }, `${what} before all workers served; stopping`);
      return stop(1);
    }
    const quick = Date.now() - startedAtMs < settledAfterMs;
    const deaths = quick ? (quickDeaths.get(index) ?? 0) + 1 : 0;
    quickDeaths.set(index, deaths);
    const delayMs = deaths === 0 ? 0 : Math.min(30 * backoffMs, backoffMs * 2 ** (deaths - 1));
    log.warn({ worker: index, ...details, restartInMs: delayMs }, `${what}; starting it again`);
    // Not unref'd: with every worker gone at once, this timer is all that keeps the primary running.
    const timer = setTimeout(() => {
      restartTimers.delete(timer);
      fork(index);
    }, delayMs);
    restartTimers.add(timer);
  };

  /** Worker `index` serves. */
  const served = (index: number) => {
    if (listening) return;
    // The first worker tells whether a worker can start (a bad certificate is one worker's error, said
    // once); the others start once it serves.
    if (index === 0) for (let other = 1; other < count && !stopping; other += 1) fork(other);
    started.add(index);
    if (started.size < count) return;
    listening = true;
    options.onListening(address);
  };

  const fork = (index: number) => {
    const startedAtMs = Date.now();
    let worker: Worker;
    try {
      worker = cluster.fork({
        [workerIndexVariable]: String(index),
        [workerPortVariable]: String(address.port),
      });
    } catch (error) {
      // Arguments node refuses, or a spawn failure libuv reports at once (ENOMEM).
      return gone(index, startedAtMs, { err: error }, 'a gateway worker could not be started');
    }
    workers.set(index, worker);
    worker.on('error', (error) => {
      // A process that never started (spawn failed: EAGAIN, ENOENT) has no pid and emits no 'exit'.
      if (worker.process.pid === undefined)
        return gone(index, startedAtMs, { err: error }, 'a gateway worker could not be started');
      // A message to a worker that is just going away (a metrics request) fails with an 'error' event on
      // it; its 'exit' follows and restarts it, so the error is only worth a line.
      log.warn({ worker: index, err: error }, 'gateway worker channel error');
    });
    worker.on('message', (message: unknown) => {
      if (handout.onMessage(worker, message)) {
        if ((message as { type: unknown }).type === readyMessage) served(index);
        return;
      }
      const { type, id } = (message ?? {}) as { type?: unknown; id?: unknown };
      if (type !== metricsRequest) return;
      aggregator.clusterMetrics().then(
        (text) => worker.isConnected() && worker.send({ type: metricsReply, id, text }),
        (error: unknown) =>
          worker.isConnected() && worker.send({ type: metricsReply, id, error: String(error) }),
      );
    });
    worker.once('exit', (code, signal) =>
      gone(index, startedAtMs, { code, signal }, 'a gateway worker exited'),
    );
  };

  process.once('SIGINT', () => stop(0));
  process.once('SIGTERM', () => stop(0));
  fork(0);
  if (!stopping) log.info({ workers: count }, 'gateway workers starting');
  return finished;
}

/** A worker's side of `/metrics`. */
export interface ClusterMetrics {
  /** The metrics this worker reports when the primary asks (until set: none). */
  report(registry: Registry): void;
  /** What `/metrics` answers: every worker's metrics added up by the primary. */
  text(): Promise<string>;
}

/**
 * In a worker, as early as it starts (the primary's collection waits for every connected worker to answer).
 */
export function clusterMetrics(timeoutMs = 10_000): ClusterMetrics {
  // Constructing one adds prom-client's listener that answers the primary with this worker's registries.
  new AggregatorRegistry();
  AggregatorRegistry.setRegistries([]);
  const waiting = new Map<number, { resolve: (text: string) => void; reject: (error: Error) => void }>();
  let nextId = 0;
  process.on('message', (message: unknown) => {
    const { type, id, text, error } = (message ?? {}) as Record<string, unknown>;
    if (type !== metricsReply || typeof id !== 'number') return;
    const waiter = waiting.get(id);
    waiting.delete(id);
    if (typeof text === 'string') waiter?.resolve(text);
    else
      waiter?.reject(new Error(`the gateway's primary process could not collect metrics: ${String(error)}`));
  });
  return {
    report: (registry) => AggregatorRegistry.setRegistries([registry]),
    text: () =>
      new Promise<string>((resolve, reject) => {
        const id = nextId++;
        const timer = setTimeout(() => {
          waiting.delete(id);
          reject(new Error(`the gateway's primary process sent no metrics within ${timeoutMs} ms`));
        }, timeoutMs);
        waiting.set(id, {
          resolve: (text) => (clearTimeout(timer), resolve(text)),
          reject: (error) => (clearTimeout(timer), reject(error)),
        });
        process.send!({ type: metricsRequest, id });
      }),
  };
}
