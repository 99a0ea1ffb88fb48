import { readFile } from 'node:fs/promises';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { EdgeFleetError } from '../spec/edgefleet-error.js';

type Options = NonNullable<ParseArgsConfig['options']>;

/** Parses a command's flags strictly; unknown flags and missing values become a clear usage error. */
export function parseFlags<O extends Options>(args: string[], options: O, allowPositionals = false) {
  try {
    return parseArgs({ args: joinNegativeValues(args, options), options, allowPositionals, strict: true });
  } catch (error) {
    throw new EdgeFleetError('invalid_argument', error instanceof Error ? error.message : String(error));
  }
}

/**
 * `--rpm -1` as `--rpm=-1`: node:util takes a value that starts with a dash for a flag and refuses it as
 * "ambiguous", so a negative number would get that message instead of the flag's own range.
 */
function joinNegativeValues(args: string[], options: Options): string[] {
  const joined: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    const next = args[i + 1];
    const name = arg.startsWith('--') ? arg.slice(2) : undefined;
    const takesValue = name !== undefined && options[name]?.type === 'string';
    if (takesValue && next !== undefined && /^-\d/.test(next)) {
      joined.push(`${arg}=${next}`);
      i += 1;
    } else joined.push(arg);
    if (arg === '--') {
      joined.push(...args.slice(i + 1));
      break;
    }
  }
  return joined;
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

/** Reads the file a flag names; one that is missing or unreadable is a usage error naming the flag. */
export async function readFlagFile(path: string, flag: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    throw new EdgeFleetError('invalid_argument', `--${flag}: cannot read ${path}: ${whyUnreadable(error)}`, {
      param: flag,
    });
  }
}

/** A file system error in a few words: `no such file` rather than `ENOENT: no such file or directory, open …`. */
export function whyUnreadable(error: unknown): string {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return 'no such file';
  if (code === 'EISDIR') return 'it is a directory';
  if (code === 'EACCES') return 'permission denied';
  return error instanceof Error ? error.message : String(error);
}

/**
 * A `--server URL` value: the control plane's http(s) base URL, returned without a trailing slash. One
 * that ends in the API's own path (`…/api/v1`, `…/v1`) is refused with the URL to give instead: the
 * commands add those paths themselves.
 */
export function serverUrlFlag(raw: string): string {
  const url = URL.canParse(raw) ? new URL(raw) : null;
  if (url === null || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
    throw new EdgeFleetError('invalid_argument', `--server must be an http(s) URL, got "${raw}"`);
  }
  const apiPath = /\/(?:api\/)?v1\/*$/.exec(url.pathname);
  if (apiPath !== null && url.search === '') {
    const base = `${url.origin}${url.pathname.slice(0, apiPath.index)}`;
    throw new EdgeFleetError(
      'invalid_argument',
      `--server is the server's address without ${apiPath[0].replace(/\/+$/, '')}: --server ${base}`,
    );
  }
  return url.toString().replace(/\/+$/, '');
}

/** A `--port` value: 0 (any free port) to 65535. */
export const portFlag = (value: string | undefined, fallback: number): number =>
  intFlag(value, 'port', fallback, 0, 65_535);
