/**
 * The live progress line of `edgefleet bench`: requests done (and failed) of the total, the rate of
 * completions so far and the current median time to first token. Pure formatting.
 */
import type { StepProgress } from './load-runner.js';
import { percentile } from './statistics.js';

export function formatProgressLine(label: string, progress: StepProgress, total: number | null): string {
  const ok = progress.records.filter((r) => r.ok);
  const p50 = percentile(
    ok.map((r) => r.ttftS * 1000),
    50,
  );
  const rate = progress.elapsedS > 0 ? progress.done / progress.elapsedS : 0;
  const parts = [
    `[${label}]`,
    `${progress.done}${total === null ? '' : `/${total}`} done`,
    ...(progress.failed > 0 ? [`${progress.failed} failed`] : []),
    `${progress.inFlight} in flight`,
    `${rate.toFixed(2)} req/s`,
    `p50 TTFT ${p50 === null ? '-' : `${p50.toFixed(0)} ms`}`,
    `${progress.elapsedS.toFixed(0)} s`,
  ];
  return parts.join('  ');
}
