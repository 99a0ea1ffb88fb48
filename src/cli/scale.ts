import { maxIdleTimeoutS, maxReplicas, type UpdateDeploymentRequest } from '../spec/management-api.js';
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

const HELP = `usage: edgefleet scale ID [--replicas N] [--min-replicas N] [--idle-timeout-s N]
                      [--server URL] [--api-key KEY | --home DIR] [--json]

Scales a deployment in place (PATCH /api/v1/deployments/:id): the scheduler places the new replicas,
or stops the surplus (replicas not yet running first, then the newest). Give at least one flag.

  --replicas N        replicas, 1..${maxReplicas}; a deployment that never scaled down keeps doing so
  --min-replicas N    replicas kept while idle, 0..replicas; 0 scales to zero
  --idle-timeout-s N  seconds without a request before scaling down to --min-replicas
${CONNECTION_HELP}`;

/** `edgefleet scale ID …`: PATCH /api/v1/deployments/:id. */
export async function run(args: string[]): Promise<number> {
  return runManagementCommand(
    'scale',
    HELP,
    args,
    {
      replicas: { type: 'string' },
      'min-replicas': { type: 'string' },
      'idle-timeout-s': { type: 'string' },
    },
    true,
    async ({ values, positionals }, connect) => {
      const id = encodeURIComponent(oneOperand(positionals, 'the deployment ID'));
      const flag = (name: string, min: number, max: number) => {
        const value = values[name];
        return typeof value === 'string' ? intFlag(value, name, 0, min, max) : undefined;
      };
      const replicas = flag('replicas', 1, maxReplicas);
      const minReplicas = flag('min-replicas', 0, maxReplicas);
      const idleTimeoutS = flag('idle-timeout-s', 1, maxIdleTimeoutS);
      const patch: UpdateDeploymentRequest = {
        ...(replicas !== undefined && { replicas }),
        ...(minReplicas !== undefined && { minReplicas }),
        ...(idleTimeoutS !== undefined && { idleTimeoutS }),
      };
      if (Object.keys(patch).length === 0) {
        throw new CliFailure('give --replicas, --min-replicas or --idle-timeout-s', 2);
      }
      const connection = await connect();
      const body = await callApi(connection, 'PATCH', `deployments/${id}`, patch);
      await printDeployment(body, values.json === true, () => siteNames(connection));
      return 0;
    },
  );
}
