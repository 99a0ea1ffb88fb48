/**
 * `edgefleet endpoints add|list|rm`: register an OpenAI-compatible server a team already runs (a
 * hand-started vLLM, a MindIE box) so the gateway routes to it, through `/api/v1/endpoints`.
 */
import {
  CliFailure,
  CONNECTION_HELP,
  oneOperand,
  callApi,
  cell,
  formatTable,
  listRows,
  printJson,
  runManagementCommand,
} from './management-client.js';

const HELP = `usage: edgefleet endpoints add --model NAME --url URL --site SITE [--region R] [--upstream-key K]
                               [--upstream-model M]
       edgefleet endpoints update ID [--upstream-key K|none] [--upstream-model M|none]
       edgefleet endpoints list
       edgefleet endpoints rm ID
       (each with [--server URL] [--api-key KEY | --home DIR] [--json])

Registers an external OpenAI-compatible server as an instance of a model: the gateway routes to it
while its health check (GET <url>/v1/models every few seconds) passes. A model name may be served by
deployments and endpoints together.

  --model NAME         the model name clients use
  --url URL            the server's base URL (http or https; a trailing /v1 is dropped)
  --site SITE          the site (machine room) the server is in; created when new
  --region R           the site's region, for routing clients of that region there first (as a
                       worker's --region sets it; kept when not given)
  --upstream-key K     the key the server wants ("Authorization: Bearer K"); stored, never shown
  --upstream-model M   the name the server serves the model under (vLLM's --served-model-name), when
                       clients use --model NAME for it: sent upstream as "model" (default: NAME)

update changes an endpoint's upstream key (a rotated one) or upstream model in place (none removes
it); its id, name, URL and site stay.

${CONNECTION_HELP}`;

const addOptions = {
  model: { type: 'string' },
  url: { type: 'string' },
  site: { type: 'string' },
  region: { type: 'string' },
  'upstream-key': { type: 'string' },
  'upstream-model': { type: 'string' },
} as const;

function endpointTable(endpoints: Record<string, unknown>[]): string {
  const when = (ms: unknown) => (typeof ms === 'number' ? new Date(ms).toISOString() : '-');
  return formatTable([
    ['ID', 'MODEL', 'URL', 'SITE', 'KEY', 'HEALTH', 'LAST CHECK', 'LAST ERROR'],
    ...endpoints.map((e) => [
      cell(e['id']),
      typeof e['upstreamModel'] === 'string'
        ? `${cell(e['model'])} (as ${e['upstreamModel']})`
        : cell(e['model']),
      cell(e['url']),
      cell(e['site']),
      e['hasApiKey'] === true ? 'set' : '-',
      cell(e['health']),
      when(e['lastCheckAtMs']),
      cell(e['lastError']),
    ]),
  ]);
}

/** A flag's value trimmed; an empty one is a usage error. */
function nonEmpty(value: string | undefined, flag: string): string | undefined {
  const trimmed = value?.trim();
  if (trimmed === '') throw new CliFailure(`--${flag} must not be empty`, 2);
  return trimmed;
}

/** `edgefleet endpoints add|update|list|rm`. */
export async function run(args: string[]): Promise<number> {
  return runManagementCommand(
    'endpoints',
    HELP,
    args,
    addOptions,
    true,
    async ({ values, positionals }, connect) => {
      const [action, ...operands] = positionals;
      const text = (key: string) => (typeof values[key] === 'string' ? values[key] : undefined);
      const given = Object.keys(addOptions).filter((flag) => values[flag] !== undefined);
      const updateFlags = ['upstream-key', 'upstream-model'];
      const misplaced = given.find(
        (flag) => action !== 'add' && !(action === 'update' && updateFlags.includes(flag)),
      );
      if (misplaced !== undefined) {
        throw new CliFailure(`--${misplaced} is an option of "endpoints add"`, 2);
      }
      if (action !== 'rm' && action !== 'update' && operands.length > 0)
        throw new CliFailure(`unexpected argument "${operands[0]}"`, 2);
      if (action === 'add') {
        const body: Record<string, unknown> = {};
        for (const flag of ['model', 'url', 'site'] as const) {
          const value = nonEmpty(text(flag), flag);
          if (value === undefined) throw new CliFailure(`endpoints add needs --${flag}`, 2);
          body[flag] = value;
        }
        const region = nonEmpty(text('region'), 'region');
        if (region !== undefined) body['region'] = region;
        const upstreamKey = text('upstream-key');
        if (upstreamKey !== undefined) body['apiKey'] = upstreamKey;
        const upstreamModel = nonEmpty(text('upstream-model'), 'upstream-model');
        if (upstreamModel !== undefined) body['upstreamModel'] = upstreamModel;
        const created = (await callApi(await connect(), 'POST', 'endpoints', body)) as Record<
          string,
          unknown
        >;
        if (values.json === true) printJson(created);
        else process.stdout.write(`${endpointTable([created])}\n`);
        return 0;
      }
      if (action === 'update') {
        const id = oneOperand(operands, 'the endpoint ID');
        const body: Record<string, unknown> = {};
        const key = text('upstream-key');
        if (key !== undefined) body['apiKey'] = key === 'none' ? null : key;
        const model = nonEmpty(text('upstream-model'), 'upstream-model');
        if (model !== undefined) body['upstreamModel'] = model === 'none' ? null : model;
        if (Object.keys(body).length === 0) {
          throw new CliFailure('endpoints update needs --upstream-key or --upstream-model', 2);
        }
        const path = `endpoints/${encodeURIComponent(id)}`;
        const updated = (await callApi(await connect(), 'PATCH', path, body)) as Record<string, unknown>;
        if (values.json === true) printJson(updated);
        else process.stdout.write(`${endpointTable([updated])}\n`);
        return 0;
      }
      if (action === 'list') {
        const body = await callApi(await connect(), 'GET', 'endpoints');
        if (values.json === true) printJson(body);
        else process.stdout.write(`${endpointTable(listRows(body))}\n`);
        return 0;
      }
      if (action === 'rm') {
        const id = oneOperand(operands, 'the endpoint ID');
        const body = await callApi(await connect(), 'DELETE', `endpoints/${encodeURIComponent(id)}`);
        if (values.json === true) printJson(body);
        else process.stdout.write(`removed endpoint ${id}\n`);
        return 0;
      }
      throw new CliFailure(
        action === undefined ? 'missing the action: add, update, list or rm' : `unknown action "${action}"`,
        2,
      );
    },
  );
}
