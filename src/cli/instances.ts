import { formatBytes } from './planner-format.js';
import {
  CONNECTION_HELP,
  callApi,
  cell,
  formatTable,
  listRows,
  printJson,
  runManagementCommand,
} from './management-client.js';

const HELP = `usage: edgefleet instances [--deployment ID] [--server URL] [--api-key KEY | --home DIR] [--json]

Lists the model instances (one per placed replica): the deployment revision each was placed for (older
than its deployment's while a rolling update replaces it), node, state, port and download progress.

  --deployment ID  only this deployment's instances
${CONNECTION_HELP}`;

function progressCell(instance: Record<string, unknown>): string {
  const done = instance.downloadedBytes;
  const total = instance.downloadTotalBytes;
  if (typeof done !== 'number' || done <= 0) return '-';
  if (typeof total === 'number' && total > 0) {
    return `${Math.min(100, Math.floor((done / total) * 100))}% of ${formatBytes(total)}`;
  }
  return formatBytes(done);
}

/** `edgefleet instances [--deployment ID]`: GET /api/v1/instances. */
export async function run(args: string[]): Promise<number> {
  return runManagementCommand(
    'instances',
    HELP,
    args,
    { deployment: { type: 'string' } },
    false,
    async ({ values }, connect) => {
      const deployment = typeof values.deployment === 'string' ? values.deployment : undefined;
      const query = deployment === undefined ? '' : `?deployment=${encodeURIComponent(deployment)}`;
      const body = await callApi(await connect(), 'GET', `instances${query}`);
      if (values.json === true) {
        printJson(body);
        return 0;
      }
      const instances = listRows(body);
      if (instances.length === 0) {
        process.stdout.write('no instances\n');
        return 0;
      }
      const table = [
        ['ID', 'DEPLOYMENT', 'REV', 'NODE', 'STATE', 'ENGINE', 'PORT', 'RESTARTS', 'DOWNLOAD', 'LAST ERROR'],
        ...instances.map((i) => [
          cell(i.id),
          cell(i.deploymentId),
          cell(i.revision),
          cell(i.nodeId),
          cell(i.state),
          cell(i.engine),
          cell(i.port),
          cell(i.restarts),
          progressCell(i),
          cell(i.lastError),
        ]),
      ];
      process.stdout.write(`${formatTable(table)}\n`);
      return 0;
    },
  );
}
