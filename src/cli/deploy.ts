import { basename } from 'node:path';
import {
  createDeploymentRequestSchema,
  maxContextTokens,
  maxIdleTimeoutS,
  maxReplicas,
  minContextTokens,
  type CreateDeploymentRequest,
} from '../spec/management-api.js';
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

const HELP = `usage: edgefleet deploy MODEL [--name NAME] [--quant Q] [--engine E] [--replicas N] [--site S ...]
                        [--min-replicas N] [--idle-timeout-s N] [--context N]
                        [--server URL] [--api-key KEY | --home DIR] [--json]

Creates a deployment. MODEL is a catalog id, an absolute GGUF path the server can read, an
http(s) URL or an hf:user/repo/file.gguf reference.

  --name NAME      what clients put in "model" (default: derived from MODEL)
  --quant Q        quantization, e.g. q4_k_m
  --engine E       engine, e.g. llama.cpp (default: the scheduler picks)
  --replicas N     number of replicas, 1..64 (default 1)
  --site S         a site the deployment may run in; repeat for several (default: anywhere)
  --min-replicas N replicas kept while idle, 0..replicas (default: replicas); 0 scales to zero and the
                   next request starts it again
  --idle-timeout-s N  seconds without a request before scaling down to --min-replicas (default 600)
  --context N      context tokens per stream its instances run with (default: the server's --context);
                   at most what the model was trained for
${CONNECTION_HELP}`;

/**
 * The default deployment name: the catalog id as is; for a path, URL or hf: reference the file name
 * without ".gguf" (query strings dropped), reduced to the characters the API accepts.
 */
export function defaultDeploymentName(model: string): string {
  let base = model;
  if (/^https?:\/\//.test(model)) {
    try {
      base = decodeURIComponent(basename(new URL(model).pathname)) || new URL(model).hostname;
    } catch {
      base = basename(model);
    }
  } else if (model.startsWith('hf:')) {
    base = model.slice(3).split('/').filter(Boolean).pop() ?? model.slice(3);
  } else if (model.includes('/') || /\.gguf$/i.test(model)) {
    base = basename(model);
  }
  const name = base
    .replace(/\.gguf$/i, '')
    .replace(/[^A-Za-z0-9._:/-]+/g, '-')
    .replace(/^[^A-Za-z0-9]+/, '')
    .slice(0, 128);
  return name === '' ? 'model' : name;
}

/** `edgefleet deploy MODEL …`: POST /api/v1/deployments. */
export async function run(args: string[]): Promise<number> {
  return runManagementCommand(
    'deploy',
    HELP,
    args,
    {
      name: { type: 'string' },
      quant: { type: 'string' },
      engine: { type: 'string' },
      replicas: { type: 'string' },
      site: { type: 'string', multiple: true },
      'min-replicas': { type: 'string' },
      'idle-timeout-s': { type: 'string' },
      context: { type: 'string' },
    },
    true,
    async ({ values, positionals }, connect) => {
      const model = modelArgument(oneOperand(positionals, 'MODEL'));
      const str = (key: string) => (typeof values[key] === 'string' ? values[key] : undefined);
      const sites = siteFlags(values.site) ?? [];
      const request: CreateDeploymentRequest = {
        name: str('name') ?? defaultDeploymentName(model),
        model,
        replicas: intFlag(str('replicas'), 'replicas', 1, 1, maxReplicas),
        ...(str('quant') !== undefined && { quant: str('quant') }),
        ...(str('engine') !== undefined && { engine: str('engine') }),
        ...(sites.length > 0 && { sites }),
        ...(str('min-replicas') !== undefined && {
          minReplicas: intFlag(str('min-replicas'), 'min-replicas', 0, 0, maxReplicas),
        }),
        ...(str('idle-timeout-s') !== undefined && {
          idleTimeoutS: intFlag(str('idle-timeout-s'), 'idle-timeout-s', 600, 1, maxIdleTimeoutS),
        }),
        ...(str('context') !== undefined && {
          contextTokens: intFlag(str('context'), 'context', 4096, minContextTokens, maxContextTokens),
        }),
      };
      const checked = createDeploymentRequestSchema.safeParse(request);
      if (!checked.success) {
        const issue = checked.error.issues[0]!;
        const field = String(issue.path[0] ?? '');
        throw new CliFailure(`${flagOf[field] ?? (field || 'request')}: ${issue.message}`, 2);
      }
      const connection = await connect();
      const body = await callApi(connection, 'POST', 'deployments', checked.data);
      await printDeployment(body, values.json === true, async () =>
        checked.data.sites?.length ? siteNames(connection) : undefined,
      );
      return 0;
    },
  );
}

/** The flag each request field comes from, for the schema's complaints. */
const flagOf: Readonly<Record<string, string>> = {
  name: '--name',
  model: 'MODEL',
  quant: '--quant',
  engine: '--engine',
  sites: '--site',
  minReplicas: '--min-replicas',
  contextTokens: '--context',
};
