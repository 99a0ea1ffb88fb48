/** `--prefill-chunk N|auto`: a flag of `edgefleet engine`, and of `worker` and `up`, which pass it on. */
import { cpuPrefillChunk, engineDefaults, type EngineOptions } from '../engines/embedded/engine-options.js';
import { EdgeFleetError } from '../spec/edgefleet-error.js';

/** What --prefill-chunk does, for the help of `engine`, `worker` and `up`. */
export const prefillChunkHelp = `most prompt tokens per decode step while other requests are generating, so
that a long prompt holds them back a short step at a time (default auto:
${cpuPrefillChunk} on the CPU, the batch size on a GPU)`;

/** `--prefill-chunk N|auto`. */
export function prefillChunkFlag(value: string | undefined): EngineOptions['prefillChunk'] {
  if (value === undefined || value === 'auto') return engineDefaults.prefillChunk;
  if (!/^\d+$/.test(value) || Number(value) < 1 || !Number.isSafeInteger(Number(value))) {
    throw new EdgeFleetError(
      'invalid_argument',
      `--prefill-chunk must be auto or an integer ≥ 1, got "${value}"`,
    );
  }
  return Number(value);
}
