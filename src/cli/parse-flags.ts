import { parseArgs, type ParseArgsConfig } from 'node:util';
import { EdgeFleetError } from '../spec/edgefleet-error.js';

type Options = NonNullable<ParseArgsConfig['options']>;

/** Parses a command's flags strictly; unknown flags and missing values become a clear usage error. */
export function parseFlags<O extends Options>(args: string[], options: O, allowPositionals = false) {
  try {
    return parseArgs({ args, options, allowPositionals, strict: true });
  } catch (error) {
    throw new EdgeFleetError('invalid_argument', error instanceof Error ? error.message : String(error));
  }
}

/**
 * Parses an integer flag value written in decimal digits (not `0x10`, `1e3` or ` 7 `, which Number()
 * would take), or returns the fallback when absent.
 */
export function intFlag(
  value: string | undefined,
  name: string,
  fallback: number,
  min = 1,
  max = Number.MAX_SAFE_INTEGER,
): number {
  if (value === undefined) return fallback;
  const parsed = /^-?\d+$/.test(value) ? Number(value) : NaN;
  if (!Number.isSafeInteger(parsed) || parsed < min || parsed > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `≥ ${min}` : `from ${min} to ${max}`;
    throw new EdgeFleetError('invalid_argument', `--${name} must be an integer ${range}, got "${value}"`);
  }
  return parsed;
}

/** A `--port` value: 0 (any free port) to 65535. */
export const portFlag = (value: string | undefined, fallback: number): number =>
  intFlag(value, 'port', fallback, 0, 65_535);
