import {
  CONNECTION_HELP,
  callApi,
  cell,
  formatTable,
  listRows,
  printJson,
  runManagementCommand,
  siteNames,
} from './management-client.js';

const HELP = `usage: edgefleet deployments [--server URL] [--api-key KEY | --home DIR] [--json]

Lists the deployments: name (what clients put in "model"), model, replicas and status.

${CONNECTION_HELP}`;

/** Table rows for deployments (shared with \`edgefleet deploy\`); sites by name where `sites` knows them. */
export function deploymentTable(
  deployments: Record<string, unknown>[],
  sites = new Map<string, string>(),
): string {
  return formatTable([
    ['ID', 'NAME', 'MODEL', 'QUANT', 'ENGINE', 'REPLICAS', 'SITES', 'REV', 'STATUS', 'REASON'],
    ...deployments.map((d) => [
      cell(d.id),
      cell(d.name),
      cell(d.modelRef),
      cell(d.quant),
      cell(d.engine),
      cell(d.replicas),
      Array.isArray(d.siteConstraints) && d.siteConstraints.length > 0
        ? d.siteConstraints.map((id) => sites.get(String(id)) ?? cell(id)).join(',')
        : 'any',
      cell(d.revision),
      cell(d.status),
      cell(d.statusReason),
    ]),
  ]);
}

/** What `deploy`, `scale` and `redeploy` print of the deployment the server answered: JSON, or a one-row table. */
export async function printDeployment(
  body: unknown,
  json: boolean,
  names: () => Promise<Map<string, string> | undefined>,
): Promise<void> {
  if (json) printJson(body);
  else process.stdout.write(`${deploymentTable([body as Record<string, unknown>], await names())}\n`);
}

/** `edgefleet deployments`: GET /api/v1/deployments. */
export async function run(args: string[]): Promise<number> {
  return runManagementCommand('deployments', HELP, args, {}, false, async ({ values }, connect) => {
    const connection = await connect();
    const body = await callApi(connection, 'GET', 'deployments');
    if (values.json === true) {
      printJson(body);
      return 0;
    }
    const deployments = listRows(body);
    if (deployments.length === 0) {
      process.stdout.write('no deployments; create one with: edgefleet deploy MODEL\n');
      return 0;
    }
    process.stdout.write(`${deploymentTable(deployments, await siteNames(connection))}\n`);
    return 0;
  });
}
