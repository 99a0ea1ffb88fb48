import {
  CONNECTION_HELP,
  oneOperand,
  callApi,
  printJson,
  runManagementCommand,
} from './management-client.js';

const HELP = `usage: edgefleet undeploy ID [--server URL] [--api-key KEY | --home DIR] [--json]

Deletes a deployment and its instances (workers stop them at their next heartbeat).

${CONNECTION_HELP}`;

/** `edgefleet undeploy ID`: DELETE /api/v1/deployments/:id. */
export async function run(args: string[]): Promise<number> {
  return runManagementCommand('undeploy', HELP, args, {}, true, async ({ values, positionals }, connect) => {
    const id = oneOperand(positionals, 'the deployment ID');
    const body = await callApi(await connect(), 'DELETE', `deployments/${encodeURIComponent(id)}`);
    if (values.json === true) printJson(body);
    else process.stdout.write(`deleted deployment ${id}\n`);
    return 0;
  });
}
