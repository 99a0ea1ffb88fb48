/**
 * What the load runner measured for one request, on the step's clock (seconds since the step started):
 * when it started, when each piece of output arrived, how it ended, and its token counts.
 */
import type { BenchErrorKind } from '../spec/bench-result.js';

export interface RequestRecord {
  /** Seconds from the step's start to sending the request. */
  startS: number;
  /** Seconds from the step's start to the end of the response (or the failure). */
  endS: number;
  ok: boolean;
  errorKind: BenchErrorKind | null;
  /** "" for a success. */
  error: string;
  /** Seconds from sending to the first output text (0 when none came). */
  ttftS: number;
  /** Gaps between consecutive output chunks, seconds. */
  itlsS: number[];
  /** Seconds (step clock) at which each output chunk arrived. */
  chunkTimesS: number[];
  inputTokens: number;
  outputTokens: number;
  /** Whether the token counts came from the engine's usage or from counting chunks. */
  tokenSource: 'usage' | 'chunks';
  text: string;
}

/** Time per output token of one request, seconds, as vLLM defines it: (e2el − ttft) / (output − 1). */
export function timePerOutputTokenS(record: RequestRecord): number | null {
  if (!record.ok || record.outputTokens < 2) return null;
  return (record.endS - record.startS - record.ttftS) / (record.outputTokens - 1);
}

export interface Slo {
  ttftMs: number | null;
  tpotMs: number | null;
}

/** Whether a request met the SLO: it succeeded and is within every limit given (a missing TPOT passes). */
export function meetsSlo(record: RequestRecord, slo: Slo): boolean {
  if (!record.ok) return false;
  if (slo.ttftMs !== null && record.ttftS * 1000 > slo.ttftMs) return false;
  const tpotS = timePerOutputTokenS(record);
  if (slo.tpotMs !== null && tpotS !== null && tpotS * 1000 > slo.tpotMs) return false;
  return true;
}
