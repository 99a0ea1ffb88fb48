/**
 * `edgefleet keys create|list|revoke`: API keys with model allow-lists and limits, through
 * `/api/v1/keys` (admin key). A new key's secret is printed once; the server keeps only its hash.
 */
import {
  CliFailure,
  CONNECTION_HELP,
  callApi,
  cell,
  formatTable,
  listRows,
  printJson,
  runManagementCommand,
} from './management-client.js';
import { apiKeyRoles } from '../spec/api-keys.js';
import { intFlag } from './parse-flags.js';

const HELP = `usage: edgefleet keys create --name NAME [--models M1,M2] [--rpm N] [--tpm N]
                            [--token-budget N] [--region R]
                            [--role inference|admin|gateway|metrics]
       edgefleet keys list
       edgefleet keys revoke ID
       (each with [--server URL] [--api-key KEY | --home DIR] [--json])

Manages API keys. An inference key may call /v1/... (the OpenAI-compatible API) but not the
management API. The secret of a new key is printed once; only its hash is stored.

  --name NAME          a label for the key
  --models M1,M2       deployment names the key may call (repeatable; default: every model)
  --rpm N              requests per minute
  --tpm N              tokens (prompt + completion) per minute
  --token-budget N     tokens over the key's whole life
  --region R           the region whose gateways the key is meant for
  --role ROLE          inference (default): /v1 only; admin: everything; gateway: what a room
                       gateway needs (edgefleet gateway --api-key); metrics: /metrics only

With --json, create prints the key as JSON; its "key" field is the secret.

${CONNECTION_HELP}`;

const createOptions = {
  name: { type: 'string' },
  models: { type: 'string', multiple: true },
  rpm: { type: 'string' },
  tpm: { type: 'string' },
  'token-budget': { type: 'string' },
  region: { type: 'string' },
  role: { type: 'string' },
} as const;

type Values = Record<string, string | boolean | string[] | boolean[] | undefined>;

/** The body of POST /api/v1/keys from the create flags. */
export function createBody(values: Values): Record<string, unknown> {
  const text = (key: string) => (typeof values[key] === 'string' ? values[key] : undefined);
  const name = text('name');
  if (name === undefined || name.trim() === '') throw new CliFailure('keys create needs --name NAME', 2);
  const role = text('role') ?? 'inference';
  if (!(apiKeyRoles as readonly string[]).includes(role)) {
    throw new CliFailure(`--role must be one of ${apiKeyRoles.join(', ')}, got "${role}"`, 2);
  }
  const limit = (flag: string) => {
    const raw = text(flag);
    return raw === undefined ? undefined : intFlag(raw, flag, 0);
  };
  const rawModels = values['models'];
  const models = Array.isArray(rawModels)
    ? rawModels
        .flatMap((m) => String(m).split(','))
        .map((m) => m.trim())
        .filter((m) => m !== '')
    : undefined;
  if (Array.isArray(rawModels) && models?.length === 0)
    throw new CliFailure('--models needs a model name', 2);
  const body: Record<string, unknown> = { name, role };
  if (models !== undefined) body['models'] = models;
  const rpm = limit('rpm');
  const tpm = limit('tpm');
  const tokenBudget = limit('token-budget');
  if (rpm !== undefined) body['rpm'] = rpm;
  if (tpm !== undefined) body['tpm'] = tpm;
  if (tokenBudget !== undefined) body['tokenBudget'] = tokenBudget;
  const region = text('region');
  if (region !== undefined) body['region'] = region;
  return body;
}

function keyTable(keys: Record<string, unknown>[]): string {
  const when = (ms: unknown) => (typeof ms === 'number' ? new Date(ms).toISOString() : '-');
  return formatTable([
    ['ID', 'NAME', 'ROLE', 'MODELS', 'RPM', 'TPM', 'BUDGET', 'USED', 'REGION', 'STATUS', 'LAST USED'],
    ...keys.map((k) => [
      cell(k.id),
      cell(k.name),
      cell(k.role),
      Array.isArray(k.models) ? k.models.map(cell).join(',') : 'all',
      cell(k.rpm),
      cell(k.tpm),
      cell(k.tokenBudget),
      cell(k.tokensUsed),
      cell(k.region),
      typeof k.revokedAtMs === 'number' ? 'revoked' : 'active',
      when(k.lastUsedAtMs),
    ]),
  ]);
}

/** `edgefleet keys create|list|revoke`. */
export async function run(args: string[]): Promise<number> {
  return runManagementCommand(
    'keys',
    HELP,
    args,
    createOptions,
    true,
    async ({ values, positionals }, connect) => {
      const [action, ...operands] = positionals;
      const createOnly = Object.keys(createOptions).filter((flag) => values[flag] !== undefined);
      if (action !== 'create' && createOnly.length > 0) {
        throw new CliFailure(`--${createOnly[0]} is an option of "keys create"`, 2);
      }
      if (action === 'create') {
        if (operands.length > 0) throw new CliFailure(`unexpected argument "${operands[0]}"`, 2);
        const body = createBody(values);
        const created = (await callApi(await connect(), 'POST', 'keys', body)) as Record<string, unknown>;
        if (Array.isArray(created.warnings)) {
          for (const warning of created.warnings) process.stderr.write(`warning: ${cell(warning)}\n`);
        }
        if (values.json === true) {
          printJson(created);
          return 0;
        }
        process.stdout.write(`${keyTable([created])}\n\nkey: ${cell(created.key)}\n`);
        process.stderr.write(
          'This secret is shown only once: store it now (the server keeps only its hash).\n',
        );
        return 0;
      }
      if (action === 'list') {
        if (operands.length > 0) throw new CliFailure(`unexpected argument "${operands[0]}"`, 2);
        const body = await callApi(await connect(), 'GET', 'keys');
        if (values.json === true) printJson(body);
        else process.stdout.write(`${keyTable(listRows(body))}\n`);
        return 0;
      }
      if (action === 'revoke') {
        if (operands.length !== 1) {
          throw new CliFailure(operands.length === 0 ? 'missing the key ID' : 'expected one key ID', 2);
        }
        const id = operands[0]!;
        const body = await callApi(await connect(), 'DELETE', `keys/${encodeURIComponent(id)}`);
        if (values.json === true) printJson(body);
        else process.stdout.write(`revoked API key ${id}\n`);
        return 0;
      }
      throw new CliFailure(
        action === undefined ? 'missing the action: create, list or revoke' : `unknown action "${action}"`,
        2,
      );
    },
  );
}
