/**
 * `edgefleet keys create|list|update|revoke`: API keys with model allow-lists and limits, through
 * `/api/v1/keys` (admin key). A new key's secret is printed once; the server keeps only its hash.
 * `update` changes a key's name, models, limits or region in place (its secret stays).
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
       edgefleet keys update ID [--name NAME] [--models M1,M2 | --all-models]
                            [--rpm N|none] [--tpm N|none] [--token-budget N|none]
                            [--region R|none]
       edgefleet keys revoke ID
       (each with [--server URL] [--api-key KEY | --home DIR] [--json])

Manages API keys. An inference key may call /v1/... (the OpenAI-compatible API) but not the
management API. The secret of a new key is printed once; only its hash is stored.

  --name NAME          a label for the key (one active key per name)
  --models M1,M2       deployment names the key may call (repeatable; default: every model)
  --rpm N              requests per minute
  --tpm N              tokens (prompt + completion) per minute
  --token-budget N     tokens over the key's whole life
  --region R           the region whose gateways the key is meant for
  --role ROLE          inference (default): /v1 only; admin: everything; gateway: what a room
                       gateway needs (edgefleet gateway --api-key); metrics: /metrics only

update changes only the options given and keeps the key's secret (its clients change nothing):
--all-models lets it call every model, "none" removes a limit or the region. Gateways apply the
change within about 5 s. The role cannot be changed: create a key with the role it needs.

With --json, create prints the key as JSON (its "key" field is the secret); update prints the
key as it is now.

${CONNECTION_HELP}`;

/** The flags create and update share (the key's name, allow-list, limits and region). */
const keyOptions = {
  name: { type: 'string' },
  models: { type: 'string', multiple: true },
  rpm: { type: 'string' },
  tpm: { type: 'string' },
  'token-budget': { type: 'string' },
  region: { type: 'string' },
} as const;

const createOnlyOptions = { role: { type: 'string' } } as const;
const updateOnlyOptions = { 'all-models': { type: 'boolean' } } as const;

type Values = Record<string, string | boolean | string[] | boolean[] | undefined>;

const text = (values: Values, key: string) => (typeof values[key] === 'string' ? values[key] : undefined);

/** The models of `--models` (repeatable, comma-separated); undefined when not given. */
function modelsFlag(values: Values): string[] | undefined {
  const rawModels = values['models'];
  if (!Array.isArray(rawModels)) return undefined;
  const models = rawModels
    .flatMap((m) => String(m).split(','))
    .map((m) => m.trim())
    .filter((m) => m !== '');
  if (models.length === 0) throw new CliFailure('--models needs a model name', 2);
  return models;
}

/** The body fields of the shared flags; `none` (update only) turns into null: no limit. */
function keyFields(values: Values, noneAllowed: boolean): Record<string, unknown> {
  const body: Record<string, unknown> = {};
  const limit = (flag: string) => {
    const raw = text(values, flag);
    if (raw === undefined) return undefined;
    return noneAllowed && raw === 'none' ? null : intFlag(raw, flag, 0);
  };
  const models = modelsFlag(values);
  if (models !== undefined) body['models'] = models;
  const rpm = limit('rpm');
  const tpm = limit('tpm');
  const tokenBudget = limit('token-budget');
  if (rpm !== undefined) body['rpm'] = rpm;
  if (tpm !== undefined) body['tpm'] = tpm;
  if (tokenBudget !== undefined) body['tokenBudget'] = tokenBudget;
  const region = text(values, 'region');
  if (region !== undefined) body['region'] = noneAllowed && region === 'none' ? null : region;
  return body;
}

/** The body of POST /api/v1/keys from the create flags. */
export function createBody(values: Values): Record<string, unknown> {
  const name = text(values, 'name');
  if (name === undefined || name.trim() === '') throw new CliFailure('keys create needs --name NAME', 2);
  const role = text(values, 'role') ?? 'inference';
  if (!(apiKeyRoles as readonly string[]).includes(role)) {
    throw new CliFailure(`--role must be one of ${apiKeyRoles.join(', ')}, got "${role}"`, 2);
  }
  return { name, role, ...keyFields(values, false) };
}

/** The body of PATCH /api/v1/keys/:id from the update flags: only what is given. */
export function updateBody(values: Values): Record<string, unknown> {
  const body: Record<string, unknown> = {};
  const name = text(values, 'name');
  if (name !== undefined) {
    if (name.trim() === '') throw new CliFailure('--name needs a name', 2);
    body['name'] = name;
  }
  Object.assign(body, keyFields(values, true));
  if (values['all-models'] === true) {
    if (body['models'] !== undefined) throw new CliFailure('give --models or --all-models, not both', 2);
    body['models'] = null;
  }
  if (Object.keys(body).length === 0) {
    throw new CliFailure(
      'keys update needs something to change: --name, --models, --all-models, --rpm, --tpm, --token-budget or --region',
      2,
    );
  }
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

/** `edgefleet keys create|list|update|revoke`. */
export async function run(args: string[]): Promise<number> {
  return runManagementCommand(
    'keys',
    HELP,
    args,
    { ...keyOptions, ...createOnlyOptions, ...updateOnlyOptions },
    true,
    async ({ values, positionals }, connect) => {
      const [action, ...operands] = positionals;
      const given = (options: object) => Object.keys(options).filter((flag) => values[flag] !== undefined);
      const misplaced =
        action === 'create'
          ? given(updateOnlyOptions)
          : action === 'update'
            ? given(createOnlyOptions)
            : given({ ...keyOptions, ...createOnlyOptions, ...updateOnlyOptions });
      if (misplaced.length > 0) {
        const flag = misplaced[0]!;
        const owner =
          flag in createOnlyOptions
            ? '"keys create"'
            : flag in updateOnlyOptions
              ? '"keys update"'
              : '"keys create" and "keys update"';
        throw new CliFailure(`--${flag} is an option of ${owner}`, 2);
      }
      if (action === 'create') {
        if (operands.length > 0) throw new CliFailure(`unexpected argument "${operands[0]}"`, 2);
        const body = createBody(values);
        const created = (await callApi(await connect(), 'POST', 'keys', body)) as Record<string, unknown>;
        printWarnings(created);
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
      if (action === 'update' || action === 'revoke') {
        if (operands.length !== 1) {
          throw new CliFailure(operands.length === 0 ? 'missing the key ID' : 'expected one key ID', 2);
        }
        const id = operands[0]!;
        const path = `keys/${encodeURIComponent(id)}`;
        if (action === 'update') {
          const body = updateBody(values);
          const updated = (await callApi(await connect(), 'PATCH', path, body)) as Record<string, unknown>;
          printWarnings(updated);
          if (values.json === true) printJson(updated);
          else process.stdout.write(`${keyTable([updated])}\n`);
          return 0;
        }
        const body = await callApi(await connect(), 'DELETE', path);
        if (values.json === true) printJson(body);
        else process.stdout.write(`revoked API key ${id}\n`);
        return 0;
      }
      throw new CliFailure(
        action === undefined
          ? 'missing the action: create, list, update or revoke'
          : `unknown action "${action}"`,
        2,
      );
    },
  );
}

/** The answer's warnings (allowed models nothing serves yet), on stderr. */
function printWarnings(answer: Record<string, unknown>): void {
  if (!Array.isArray(answer.warnings)) return;
  for (const warning of answer.warnings) process.stderr.write(`warning: ${cell(warning)}\n`);
}
