import type { FleetNode } from '../api/types';
import { ErrorNote } from '../components/error-note';
import { NodeMaintenanceActions } from '../components/node-maintenance';
import { Meter } from '../components/meter';
import { PageTitle } from '../components/page-title';
import { StatusBadge } from '../components/status-badge';
import { loadFleet, reservedByDevice } from '../fleet-data';
import { formatAge, formatBytes } from '../format';
import { usePoll } from '../use-poll';

/** What a down node's `downReason` means, for its card. */
const downReasons: Record<NonNullable<FleetNode['downReason']>, string> = {
  left: 'Left: its worker shut down (a stopped service, a reboot). It is back up at its next start.',
  no_heartbeat: 'No heartbeat past the node timeout: its worker was killed, crashed or is cut off.',
  revoked: 'Revoked.',
};

/**
 * Per node: its accelerators with reserved/total memory, the engines it runs, its last heartbeat, and
 * buttons to cordon, drain or return it to service.
 */
export function NodesPage() {
  const { data, error, refresh } = usePoll((signal) => loadFleet(signal), 3000, []);
  const reserved = data ? reservedByDevice(data.instances) : new Map<string, number>();
  const siteName = (id: string): string => data?.sites.find((s) => s.id === id)?.name ?? id;
  const deploymentName = (id: string): string => data?.deployments.find((d) => d.id === id)?.name ?? id;
  const nodes = data
    ? [...data.nodes].sort((a, b) => siteName(a.siteId).localeCompare(siteName(b.siteId)))
    : [];
  return (
    <>
      <PageTitle title="Nodes and devices" />
      <ErrorNote error={error} />
      {data && nodes.length === 0 && <p class="muted">No nodes have joined yet.</p>}
      <ul class="stack" aria-label="Nodes">
        {nodes.map((node) => {
          const engines = data?.instances.filter((i) => i.nodeId === node.id) ?? [];
          return (
            <li key={node.id} class={`card node node-${node.status}`} data-testid="node-card">
              <div class="card-head">
                <h2>{node.name}</h2>
                <StatusBadge status={node.status} />
                {node.maintenance && <StatusBadge status={node.maintenance} />}
              </div>
              {node.status === 'down' && node.downReason && (
                <p class="note note-error" data-testid="node-down-reason">
                  {downReasons[node.downReason]}
                </p>
              )}
              <p class="muted">
                room {siteName(node.siteId)} · {node.address} · last heartbeat{' '}
                <span data-testid="node-heartbeat">{formatAge(node.lastHeartbeatAtMs)}</span>
              </p>
              <NodeMaintenanceActions node={node} onChanged={refresh} />
              <h3>Accelerators</h3>
              <div class="table-wrap">
                <table>
                  <thead>
                    <tr>
                      <th scope="col">#</th>
                      <th scope="col">Vendor</th>
                      <th scope="col">Model</th>
                      <th scope="col">Kind</th>
                      <th scope="col">Memory reserved / total</th>
                    </tr>
                  </thead>
                  <tbody>
                    {node.devices.map((device) => (
                      <tr key={device.index} data-testid="device-row">
                        <td>{device.index}</td>
                        <td>{device.vendor}</td>
                        <td>
                          {device.name}
                          {device.hardwareId && <span class="muted"> ({device.hardwareId})</span>}
                        </td>
                        <td>{device.kind}</td>
                        <td>
                          <Meter
                            used={reserved.get(`${node.id}/${device.index}`) ?? 0}
                            total={device.memoryBytes}
                            label={`Memory of device ${device.index} on ${node.name}`}
                          />
                        </td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              </div>
              <h3>Engines</h3>
              {engines.length === 0 ? (
                <p class="muted">None.</p>
              ) : (
                <ul class="plain">
                  {engines.map((instance) => (
                    <li key={instance.id}>
                      <strong>{deploymentName(instance.deploymentId)}</strong> on {instance.engine}{' '}
                      <StatusBadge status={instance.state} />{' '}
                      <span class="muted">
                        {instance.port ? `port ${instance.port} · ` : ''}
                        {formatBytes(instance.allocations.reduce((sum, a) => sum + a.memoryBytes, 0))}{' '}
                        reserved
                      </span>
                    </li>
                  ))}
                </ul>
              )}
            </li>
          );
        })}
      </ul>
    </>
  );
}
