import { formatBytes } from './planner-format.js';
import { runMaintenance } from './node-maintenance.js';
import {
  CONNECTION_HELP,
  oneOperand,
  callApi,
  cell,
  formatTable,
  listRows,
  printJson,
  runManagementCommand,
  siteNames,
} from './management-client.js';

const HELP = `usage: edgefleet nodes
       edgefleet nodes cordon NODE
       edgefleet nodes drain NODE [--wait] [--timeout S]
       edgefleet nodes uncordon NODE
       edgefleet nodes revoke ID
       (each with [--server URL] [--api-key KEY | --home DIR] [--json])

Lists the worker nodes registered with the control plane and their devices. NODE is a node's ID or its
name. A node that is down says why: "left" (its worker shut down and said so: a stopped service, a reboot)
or "no heartbeat" (silent past the control plane's node timeout: killed, crashed or cut off).

cordon NODE places nothing new on the node; what runs there keeps running (a replica that fails there is
placed on another node).

drain NODE cordons it and moves its instances to other nodes: each keeps serving until its replacement
runs and gateways know it, then it is stopped (a llama-server or vLLM engine finishes the answers in
flight first). An instance that fits on no other node stays and serves; its deployment's status says why.
With --wait the command returns once nothing runs on the node: no instance is placed there and its worker
has stopped their engines (each after finishing its answers); progress on stderr. It fails after
--timeout S seconds (default 600) naming what is left. A node stays cordoned or draining when its worker
restarts, until uncordon NODE returns it to scheduling (instances that moved off stay where they are).

revoke ID removes a node: its credential stops working (the worker gets 401), it is no longer listed or
scheduled, and its instances are placed on other nodes. The machine can join again only with a new join
token, as a new node.

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

/** `up`, `down (left)`, `down (no heartbeat)`, then the maintenance: `up, draining`. */
function statusCell(node: Record<string, unknown>): string {
  const reason = typeof node.downReason === 'string' ? ` (${node.downReason.replace('_', ' ')})` : '';
  return `${cell(node.status)}${reason}${typeof node.maintenance === 'string' ? `, ${node.maintenance}` : ''}`;
}

/** `edgefleet nodes revoke ID`: DELETE /api/v1/nodes/:id. */
function revoke(args: string[]): Promise<number> {
  return runManagementCommand(
    'nodes revoke',
    HELP,
    args,
    {},
    true,
    async ({ values, positionals }, connect) => {
      const id = oneOperand(positionals, 'the node ID');
      const body = await callApi(await connect(), 'DELETE', `nodes/${encodeURIComponent(id)}`);
      if (values.json === true) {
        printJson(body);
        return 0;
      }
      const moved = (body as { instancesRemoved?: unknown } | null)?.instancesRemoved;
      const count = Array.isArray(moved) ? moved.length : 0;
      process.stdout.write(
        `revoked node ${id}${count > 0 ? `; ${count} instance(s) will be placed on other nodes` : ''}\n`,
      );
      return 0;
    },
  );
}

/** `edgefleet nodes`: GET /api/v1/nodes; `edgefleet nodes revoke|cordon|drain|uncordon …`. */
export async function run(args: string[]): Promise<number> {
  if (args[0] === 'revoke') return revoke(args.slice(1));
  if (args[0] === 'cordon' || args[0] === 'drain' || args[0] === 'uncordon') {
    return runMaintenance(args[0], HELP, args.slice(1));
  }
  return runManagementCommand('nodes', HELP, args, {}, false, async ({ values }, connect) => {
    const connection = await connect();
    const body = await callApi(connection, 'GET', 'nodes');
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
    const sites = await siteNames(connection);
    const table = [
      ['ID', 'NAME', 'SITE', 'STATUS', 'ADDRESS', 'DEVICES'],
      ...nodes.map((node) => [
        cell(node.id),
        cell(node.name),
        sites.get(String(node.siteId)) ?? cell(node.siteId),
        node.revokedAtMs ? 'revoked' : statusCell(node),
        cell(node.address),
        devicesCell(node.devices),
      ]),
    ];
    process.stdout.write(`${formatTable(table)}\n`);
    return 0;
  });
}
