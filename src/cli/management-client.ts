/**
 * Shared plumbing for the management CLI commands (nodes, deploy, deployments, instances, undeploy):
 * flags → server URL + admin key, one fetch with a timeout, server errors mapped to one clear line.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { EdgeFleetError, errorBodyMessage } from '../spec/edgefleet-error.js';
import { formatTable } from './planner-format.js';
import { parseFlags, serverUrlFlag } from './parse-flags.js';

export { formatTable };

export const DEFAULT_SERVER_URL = 'http://127.0.0.1:8080';
/** Where `server` and `up` write the URL they answer on, in their home. */
export const serverUrlFile = 'server-url';
const TIMEOUT_MS = 15_000;

export const CONNECTION_HELP = `  --server URL     control-plane URL (default: $EDGEFLEET_SERVER, else the URL the server wrote to
                   <home>/server-url when --home is given, else ${DEFAULT_SERVER_URL})
  --api-key KEY    admin API key (default: $EDGEFLEET_API_KEY, else <home>/admin-key when --home is given)
  --home DIR       the server's home directory (its admin-key file is read)
  --json           print the server's raw JSON instead of a table
`;

/** The flags every management command accepts. */
export const connectionOptions = {
  server: { type: 'string' },
  'api-key': { type: 'string' },
  home: { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

export interface Connection {
  baseUrl: string;
  apiKey: string;
}

/** A failure with a message meant for the user as is; `usage` ones exit 2, others 1. */
export class CliFailure extends Error {
  constructor(
    message: string,
    readonly exitCode: 1 | 2 = 1,
  ) {
    super(message);
    this.name = 'CliFailure';
  }
}

/**
 * The one operand a command takes (`what`: "the node ID", "MODEL"); none or several is a usage error
 * ("missing the node ID", "expected one node ID").
 */
export function oneOperand(operands: readonly string[], what: string): string {
  if (operands.length === 1) return operands[0]!;
  throw new CliFailure(
    operands.length === 0 ? `missing ${what}` : `expected one ${what.replace(/^the /, '')}`,
    2,
  );
}

/** Resolves the server URL and admin key from flags, then the environment, then `<home>/admin-key`. */
export async function resolveConnection(values: {
  server?: string | undefined;
  'api-key'?: string | undefined;
  home?: string | undefined;
}): Promise<Connection> {
  const rawUrl =
    values.server ??
    (process.env.EDGEFLEET_SERVER || undefined) ??
    (values.home !== undefined ? await serverUrlIn(values.home) : undefined) ??
    DEFAULT_SERVER_URL;
  const baseUrl = serverUrlFlag(rawUrl);
  let apiKey = values['api-key'] ?? (process.env.EDGEFLEET_API_KEY || undefined);
  if (apiKey === undefined && values.home !== undefined) {
    const file = join(values.home, 'admin-key');
    try {
      apiKey = (await readFile(file, 'utf8')).trim();
    } catch (error) {
      throw new CliFailure(`cannot read the admin key from ${file}: ${(error as Error).message}`);
    }
  }
  if (apiKey === undefined || apiKey === '') {
    throw new CliFailure(
      'no API key: pass --api-key KEY, --home DIR (the server home) or set EDGEFLEET_API_KEY',
      2,
    );
  }
  return { baseUrl, apiKey };
}

/** The URL a server wrote to `<home>/server-url`, or undefined when there is none. */
async function serverUrlIn(home: string): Promise<string | undefined> {
  const text = await readFile(join(home, serverUrlFile), 'utf8').catch(() => '');
  return text.trim() || undefined;
}

/** Calls `/api/v1/<path>` and returns the parsed JSON body; any failure becomes a one-line CliFailure. */
export async function callApi(
  connection: Connection,
  method: 'GET' | 'POST' | 'PATCH' | 'DELETE',
  path: string,
  body?: unknown,
): Promise<unknown> {
  const url = `${connection.baseUrl}/api/v1/${path}`;
  let response: Response;
  try {
    response = await fetch(url, {
      method,
      headers: {
        authorization: `Bearer ${connection.apiKey}`,
        ...(body !== undefined && { 'content-type': 'application/json' }),
      },
      ...(body !== undefined && { body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(TIMEOUT_MS),
    });
  } catch (error) {
    const cause = (error as { cause?: { code?: string; message?: string } }).cause;
    const reason =
      (error as Error).name === 'TimeoutError'
        ? `no answer within ${TIMEOUT_MS / 1000} s`
        : (cause?.code ?? cause?.message ?? (error as Error).message);
    // A certificate the system does not trust (a private CA): say how to trust it.
    const hint =
      cause?.code !== undefined && /CERT|SIGNATURE|ISSUER/.test(cause.code)
        ? '; for a private CA set NODE_EXTRA_CA_CERTS=CA_FILE'
        : reason === 'bad port'
          ? `: fetch refuses port ${new URL(url).port}, one of the well-known ports browsers block; run the server on another`
          : '';
    throw new CliFailure(`cannot reach the EdgeFleet server at ${connection.baseUrl} (${reason}${hint})`);
  }
  const text = await response.text();
  let parsed: unknown;
  try {
    parsed = text === '' ? null : (JSON.parse(text) as unknown);
  } catch {
    parsed = undefined;
  }
  if (!response.ok) {
    const error = errorBodyMessage(text);
    const message = error?.message ?? (text.slice(0, 200) || response.statusText);
    const code = error?.code ? ` ${error.code}` : '';
    throw new CliFailure(`server answered ${response.status}${code}: ${message}`);
  }
  if (parsed === undefined) {
    throw new CliFailure(`the server at ${connection.baseUrl} answered ${method} ${path} with non-JSON text`);
  }
  return parsed;
}

/** `{object:'list', data:[…]}` → its rows (objects only). */
export function listRows(body: unknown): Record<string, unknown>[] {
  const data = (body as { data?: unknown } | null)?.data;
  if (!Array.isArray(data)) throw new CliFailure('the server answered a list without "data"');
  return data.filter((row): row is Record<string, unknown> => typeof row === 'object' && row !== null);
}

/** Site names by id (GET /api/v1/sites), for tables: the API names sites by id, people by name. */
export async function siteNames(connection: Connection): Promise<Map<string, string>> {
  const sites = listRows(await callApi(connection, 'GET', 'sites'));
  return new Map(
    sites.flatMap((s) => (typeof s.id === 'string' && typeof s.name === 'string' ? [[s.id, s.name]] : [])),
  );
}

/** A cell: strings as is, null/undefined as "-", others as JSON. */
export function cell(value: unknown): string {
  if (value === null || value === undefined || value === '') return '-';
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return JSON.stringify(value);
}

export function printJson(body: unknown): void {
  process.stdout.write(`${JSON.stringify(body, null, 2)}\n`);
}

/**
 * Runs one management command: parses flags (usage errors → 2 with the help text), handles --help,
 * resolves the connection and maps failures to one line on stderr (exit 1, or 2 for usage).
 */
export async function runManagementCommand<
  O extends Record<string, { type: 'string' | 'boolean'; multiple?: boolean; short?: string }>,
>(
  command: string,
  help: string,
  args: string[],
  extraOptions: O,
  allowPositionals: boolean,
  body: (
    parsed: {
      values: Record<string, string | boolean | string[] | boolean[] | undefined>;
      positionals: string[];
    },
    connection: () => Promise<Connection>,
  ) => Promise<number>,
): Promise<number> {
  let parsed: {
    values: Record<string, string | boolean | string[] | boolean[] | undefined>;
    positionals: string[];
  };
  try {
    parsed = parseFlags(args, { ...connectionOptions, ...extraOptions }, allowPositionals) as typeof parsed;
  } catch (error) {
    process.stderr.write(`edgefleet ${command}: ${(error as Error).message}\n\n${help}`);
    return 2;
  }
  if (parsed.values.help === true) {
    process.stdout.write(help);
    return 0;
  }
  const str = (key: string) => {
    const value = parsed.values[key];
    return typeof value === 'string' ? value : undefined;
  };
  try {
    return await body(parsed, () =>
      resolveConnection({ server: str('server'), 'api-key': str('api-key'), home: str('home') }),
    );
  } catch (error) {
    if (error instanceof CliFailure) {
      process.stderr.write(
        `edgefleet ${command}: ${error.message}\n${error.exitCode === 2 ? `\n${help}` : ''}`,
      );
      return error.exitCode;
    }
    if (error instanceof EdgeFleetError && error.code === 'invalid_argument') {
      process.stderr.write(`edgefleet ${command}: ${error.message}\n\n${help}`);
      return 2;
    }
    process.stderr.write(`edgefleet ${command}: ${error instanceof Error ? error.message : String(error)}\n`);
    return 1;
  }
}
