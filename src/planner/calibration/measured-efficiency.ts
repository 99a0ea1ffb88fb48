/**
 * Measured decode efficiency: how fast a real engine on a real device decoded, divided by what the planner's
 * roofline estimated for the same model, quantization, engine and device. `edgefleet calibrate` stores one
 * such ratio per hardware × engine (the latest wins); `edgefleet estimate` passes it back in as
 * `EstimateInput.calibration`, and the planner multiplies its decode speed by it. Pure: the file that holds
 * the entries is read and written by the CLI.
 */
import { z } from 'zod';
import { EdgeFleetError } from '../../spec/edgefleet-error.js';

/** One stored measurement (an element of `<home>/calibration.json`'s `entries`). */
export const calibrationEntrySchema = z.object({
  hardware: z.string().min(1),
  engine: z.string().min(1),
  model: z.string().min(1),
  quant: z.string().min(1),
  /** Devices in the measured instance. */
  count: z.number().int().positive().default(1),
  /** Prompt and output tokens the estimate was taken at (the measured workload's means). */
  promptTokens: z.number().int().nonnegative(),
  outputTokens: z.number().int().positive(),
  measuredTokensPerSecond: z.number().positive(),
  estimatedTokensPerSecond: z.number().positive(),
  efficiency: z.number().positive(),
  /** Where the measurement came from (the results file as given to calibrate). */
  source: z.string(),
  atMs: z.number().nonnegative(),
});
export type CalibrationEntry = z.infer<typeof calibrationEntrySchema>;

/** The whole file: a version and every entry ever stored, oldest first. */
export const calibrationFileSchema = z.object({
  version: z.literal(1),
  entries: z.array(calibrationEntrySchema),
});
export type CalibrationFile = z.infer<typeof calibrationFileSchema>;

/** What the planner needs to apply a measurement, and what it echoes back as `calibrated`. */
export interface SpeedCalibration {
  /** Measured ÷ estimated single-stream decode speed; the planner multiplies decode speed by it. */
  efficiency: number;
  /** The results file the measurement came from. */
  source: string;
  /** The measured configuration. */
  from: {
    model: string;
    quant: string;
    hardware: string;
    engine: string;
    measuredTokensPerSecond: number;
    estimatedTokensPerSecond: number;
    atMs: number;
  };
}

/** Measured ÷ estimated; both must be positive, finite numbers. */
export function measuredEfficiency(
  measuredTokensPerSecond: number,
  estimatedTokensPerSecond: number,
): number {
  for (const [name, value] of [
    ['measured', measuredTokensPerSecond],
    ['estimated', estimatedTokensPerSecond],
  ] as const) {
    if (!Number.isFinite(value) || value <= 0) {
      throw new EdgeFleetError('invalid_argument', `${name} decode speed must be positive, got ${value}`);
    }
  }
  return measuredTokensPerSecond / estimatedTokensPerSecond;
}

/** The latest entry for this hardware and engine (by `atMs`, later in the list on ties), or null. */
export function latestCalibration(
  entries: readonly CalibrationEntry[],
  hardware: string,
  engine: string,
): CalibrationEntry | null {
  let best: CalibrationEntry | null = null;
  for (const entry of entries) {
    if (entry.hardware !== hardware || entry.engine !== engine) continue;
    if (best === null || entry.atMs >= best.atMs) best = entry;
  }
  return best;
}

/** The planner input for a stored entry. */
export function speedCalibrationOf(entry: CalibrationEntry): SpeedCalibration {
  return {
    efficiency: entry.efficiency,
    source: entry.source,
    from: {
      model: entry.model,
      quant: entry.quant,
      hardware: entry.hardware,
      engine: entry.engine,
      measuredTokensPerSecond: entry.measuredTokensPerSecond,
      estimatedTokensPerSecond: entry.estimatedTokensPerSecond,
      atMs: entry.atMs,
    },
  };
}

/** The file with one more entry (entries stay in the order they were stored). */
export function withCalibration(file: CalibrationFile | null, entry: CalibrationEntry): CalibrationFile {
  return { version: 1, entries: [...(file?.entries ?? []), entry] };
}
