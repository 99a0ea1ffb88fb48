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

const HELP = `usage: edgefleet nodes [--server URL] [--api-key KEY | --home DIR] [--json]

Lists the worker nodes registered with the control plane and their devices.

${CONNECTION_HELP}`;

function devicesCell(devices: unknown): string {
  if (!Array.isArray(devices) || devices.length === 0) return '-';
  return devices
    .map((device: unknown) => {
      const d = device as { kind?: unknown; name?: unknown; memoryBytes?: unknown };
      const memory = typeof d.memoryBytes === 'number' ? ` ${formatBytes(d.memoryBytes)}` : '';
      return `${cell(d.kind)}:${cell(d.name)}${memory}`;
    })
    .join(', ');
}

/** `edgefleet nodes`: GET /api/v1/nodes. */
export async function run(args: string[]): Promise<number> {
  return runManagementCommand('nodes', HELP, args, {}, false, async ({ values }, connect) => {
    const body = await callApi(await connect(), 'GET', 'nodes');
    if (values.json === true) {
      printJson(body);
      return 0;
    }
    const nodes = listRows(body);
    if (nodes.length === 0) {
      process.stdout.write(
        'no nodes registered; start one with: edgefleet worker --server URL --token TOKEN --site SITE\n',
      );
      return 0;
    }
    const table = [
      ['ID', 'NAME', 'SITE', 'STATUS', 'ADDRESS', 'DEVICES'],
      ...nodes.map((node) => [
        cell(node.id),
        cell(node.name),
        cell(node.siteId),
        node.revokedAtMs ? 'revoked' : cell(node.status),
        cell(node.address),
        devicesCell(node.devices),
      ]),
    ];
    process.stdout.write(`${formatTable(table)}\n`);
    return 0;
  });
}
