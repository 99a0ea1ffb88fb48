/**
 * Runs one step of a sweep: keeps `concurrency` requests in flight (closed loop), or starts requests at
 * `rate` per second with Poisson or constant gaps (open loop), until the request count or the duration is
 * reached; requests in flight at the deadline are allowed to finish (each has its own timeout). Reports
 * progress twice a second. The request itself is a callback, so this file does no I/O of its own.
 */
import { exponentialGapS, type Random } from './seeded-random.js';
import type { RequestRecord } from './request-record.js';

export interface StepPlan {
  concurrency: number | null;
  rate: number | null;
  arrival: 'poisson' | 'constant';
  maxRequests: number | null;
  durationS: number | null;
}

export interface StepProgress {
  done: number;
  failed: number;
  inFlight: number;
  elapsedS: number;
  records: readonly RequestRecord[];
}

export interface RunStepOptions {
  plan: StepPlan;
  random: Random;
  /** Sends request number `index`; `nowS` is the step's clock. Never throws. */
  send: (index: number, nowS: () => number) => Promise<RequestRecord>;
  onProgress?: (progress: StepProgress) => void;
  progressIntervalMs?: number;
  /** When aborted, no new request starts (those in flight finish). */
  signal?: AbortSignal;
}

export interface StepRun {
  records: RequestRecord[];
  durationS: number;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));

export async function runStep(options: RunStepOptions): Promise<StepRun> {
  const { plan } = options;
  if ((plan.concurrency === null) === (plan.rate === null))
    throw new Error('a step needs a concurrency or a rate');
  if (plan.maxRequests === null && plan.durationS === null)
    throw new Error('a step needs a request count or a duration');
  const t0 = performance.now();
  const nowS = () => (performance.now() - t0) / 1000;
  const slots: (RequestRecord | undefined)[] = [];
  let started = 0;
  let inFlight = 0;
  const canStart = () =>
    options.signal?.aborted !== true &&
    (plan.maxRequests === null || started < plan.maxRequests) &&
    (plan.durationS === null || nowS() < plan.durationS);
  const launch = async (): Promise<void> => {
    const index = started++;
    inFlight++;
    slots[index] = undefined;
    const record = await options.send(index, nowS);
    slots[index] = record;
    inFlight--;
  };
  const finished = () => slots.filter((r): r is RequestRecord => r !== undefined);
  const report = () => {
    const records = finished();
    options.onProgress?.({
      done: records.length,
      failed: records.filter((r) => !r.ok).length,
      inFlight,
      elapsedS: nowS(),
      records,
    });
  };
  const timer = setInterval(report, options.progressIntervalMs ?? 500);
  try {
    if (plan.concurrency !== null) {
      const worker = async () => {
        while (canStart()) await launch();
      };
      await Promise.all(Array.from({ length: plan.concurrency }, worker));
    } else {
      const rate = plan.rate!;
      const pending: Promise<void>[] = [];
      let nextS = 0;
      while (canStart()) {
        const waitMs = (nextS - nowS()) * 1000;
        if (waitMs > 0) await sleep(waitMs);
        if (!canStart()) break;
        pending.push(launch());
        nextS += plan.arrival === 'poisson' ? exponentialGapS(options.random, rate) : 1 / rate;
      }
      await Promise.all(pending);
    }
  } finally {
    clearInterval(timer);
  }
  report();
  const records = finished();
  const firstStart = Math.min(...records.map((r) => r.startS), 0);
  const lastEnd = Math.max(...records.map((r) => r.endS), 0);
  return { records, durationS: lastEnd - firstStart };
}
