import { maxContextTokens, minContextTokens, type UpdateDeploymentRequest } from '../spec/management-api.js';
import { modelArgument, siteFlags } from './deployment-flags.js';
import { printDeployment } from './deployments.js';
import { intFlag } from './parse-flags.js';
import {
  CliFailure,
  CONNECTION_HELP,
  oneOperand,
  callApi,
  runManagementCommand,
  siteNames,
} from './management-client.js';

const HELP = `usage: edgefleet redeploy ID [--model MODEL] [--quant Q|auto] [--engine E|auto] [--context N|default]
                          [--site S ... | --any-site]
                          [--server URL] [--api-key KEY | --home DIR] [--json]

Changes what a deployment runs (PATCH /api/v1/deployments/:id) and rolls its instances over to it: the
deployment's revision goes up; each new instance is placed beside the old ones, which keep serving until
enough of the new ones run (where a device holds only one copy, an old one is replaced in place, one at a
time). Clients keep using the same name. Giving what it already runs changes nothing. To change the
number of replicas, use edgefleet scale.

  --model MODEL    a catalog id, an absolute GGUF path the server can read, an http(s) URL or an
                   hf:user/repo/file.gguf reference
  --quant Q        quantization, e.g. q4_k_m; auto: the model's own or the scheduler's choice
  --engine E       engine, e.g. llama.cpp; auto: the scheduler picks
  --context N      context tokens per stream, ${minContextTokens}..${maxContextTokens}; default: the server's --context
  --site S         a site it may run in; repeat for several (replaces the sites it had)
  --any-site       it may run anywhere
${CONNECTION_HELP}`;

/** `edgefleet redeploy ID …`: PATCH /api/v1/deployments/:id with what it runs. */
export async function run(args: string[]): Promise<number> {
  return runManagementCommand(
    'redeploy',
    HELP,
    args,
    {
      model: { type: 'string' },
      quant: { type: 'string' },
      engine: { type: 'string' },
      context: { type: 'string' },
      site: { type: 'string', multiple: true },
      'any-site': { type: 'boolean' },
    },
    true,
    async ({ values, positionals }, connect) => {
      const id = encodeURIComponent(oneOperand(positionals, 'the deployment ID'));
      const str = (key: string) => (typeof values[key] === 'string' ? values[key] : undefined);
      const model = str('model');
      const sites = siteFlags(values.site);
      if (sites !== undefined && values['any-site'] === true) {
        throw new CliFailure('give --site or --any-site, not both', 2);
      }
      const context = str('context');
      const patch: UpdateDeploymentRequest = {
        ...(model !== undefined && { model: modelArgument(model) }),
        ...(str('quant') !== undefined && { quant: str('quant') === 'auto' ? null : str('quant') }),
        ...(str('engine') !== undefined && { engine: str('engine') === 'auto' ? null : str('engine') }),
        ...(context !== undefined && {
          contextTokens:
            context === 'default'
              ? null
              : intFlag(context, 'context', 4096, minContextTokens, maxContextTokens),
        }),
        ...(sites !== undefined && { sites }),
        ...(values['any-site'] === true && { sites: [] }),
      };
      if (Object.keys(patch).length === 0) {
        throw new CliFailure('give --model, --quant, --engine, --context, --site or --any-site', 2);
      }
      const connection = await connect();
      const body = await callApi(connection, 'PATCH', `deployments/${id}`, patch);
      await printDeployment(body, values.json === true, () => siteNames(connection));
      return 0;
    },
  );
}
