import { useState } from 'preact/hooks';
import { api } from '../api/client';
import type { Deployment, Instance } from '../api/types';
import { ErrorNote } from '../components/error-note';
import { InstanceLog } from '../components/instance-log';
import { PageTitle } from '../components/page-title';
import { StatusBadge } from '../components/status-badge';
import { type FleetData, loadFleet } from '../fleet-data';
import { formatBytes } from '../format';
import { usePoll } from '../use-poll';
import { DeploymentForm } from './deployment-form';
import { DeploymentChangeForm } from './deployment-change-form';
import { DeploymentScaleForm } from './deployment-scale-form';

function Download({ instance }: { instance: Instance }) {
  if (instance.downloadedBytes === null) return null;
  const total = instance.downloadTotalBytes;
  return (
    <span class="download">
      <progress
        value={instance.downloadedBytes}
        max={total ?? undefined}
        aria-label={`Download of instance ${instance.id}`}
      />{' '}
      {formatBytes(instance.downloadedBytes)}
      {total ? ` of ${formatBytes(total)}` : ''}
    </span>
  );
}

function InstanceRow({
  instance,
  data,
  outdated,
}: {
  instance: Instance;
  data: FleetData;
  /** Placed for an older revision of its deployment: being replaced. */
  outdated: boolean;
}) {
  const [showLog, setShowLog] = useState(false);
  const node = data.nodes.find((n) => n.id === instance.nodeId);
  const site = data.sites.find((s) => s.id === node?.siteId);
  return (
    <li
      class="instance"
      data-testid="instance-row"
      data-state={instance.state}
      data-revision={instance.revision}
    >
      <div class="instance-line">
        <code title={instance.id}>{instance.id.slice(0, 12)}</code>
        <StatusBadge status={instance.state} />
        <span class="muted">
          {node ? `${node.name} in ${site?.name ?? node.siteId}` : 'not placed'} · {instance.engine}
          {instance.restarts > 0 ? ` · ${instance.restarts} restarts` : ''}
          {outdated ? ` · revision ${instance.revision}, being replaced` : ''}
        </span>
        <Download instance={instance} />
        <button
          type="button"
          class="small"
          aria-expanded={showLog}
          onClick={() => setShowLog(!showLog)}
          data-testid="instance-log-toggle"
        >
          {showLog ? 'Hide log' : 'Log'}
        </button>
      </div>
      {instance.lastError && <p class="note note-error">{instance.lastError}</p>}
      {showLog && <InstanceLog id={instance.id} />}
    </li>
  );
}

function DeploymentCard({
  deployment,
  data,
  onChange,
}: {
  deployment: Deployment;
  data: FleetData;
  onChange: () => void;
}) {
  const [confirming, setConfirming] = useState(false);
  /** The form open under the card, if any. */
  const [editing, setEditing] = useState<'scale' | 'change' | null>(null);
  const [error, setError] = useState<string | null>(null);
  const instances = data.instances.filter((i) => i.deploymentId === deployment.id);
  const rooms = deployment.siteConstraints.map((id) => data.sites.find((s) => s.id === id)?.name ?? id);
  const close = () => setEditing(null);
  const saved = () => {
    setEditing(null);
    onChange();
  };
  const remove = async (): Promise<void> => {
    try {
      await api(`/api/v1/deployments/${encodeURIComponent(deployment.id)}`, { method: 'DELETE' });
      onChange();
    } catch (caught) {
      setError(caught instanceof Error ? caught.message : String(caught));
    }
  };
  return (
    <li
      class="card"
      data-testid="deployment-card"
      data-name={deployment.name}
      data-status={deployment.status}
    >
      <div class="card-head">
        <h2>{deployment.name}</h2>
        <StatusBadge status={deployment.status} />
      </div>
      <p class="muted wrap">
        {deployment.modelRef}
        {deployment.quant ? ` · ${deployment.quant}` : ''}
        {deployment.engine ? ` · ${deployment.engine}` : ''}
        {deployment.contextTokens !== null ? ` · context ${deployment.contextTokens}` : ''} ·{' '}
        {deployment.replicas} replica
        {deployment.replicas === 1 ? '' : 's'} · {rooms.length > 0 ? `rooms ${rooms.join(', ')}` : 'any room'}
        {deployment.revision > 1 ? ` · revision ${deployment.revision}` : ''}
      </p>
      {deployment.statusReason && <p class="note">{deployment.statusReason}</p>}
      <ul class="plain">
        {instances.map((instance) => (
          <InstanceRow
            key={instance.id}
            instance={instance}
            data={data}
            outdated={instance.revision < deployment.revision}
          />
        ))}
      </ul>
      {editing === 'scale' && (
        <DeploymentScaleForm deployment={deployment} onCancel={close} onSaved={saved} />
      )}
      {editing === 'change' && (
        <DeploymentChangeForm deployment={deployment} sites={data.sites} onCancel={close} onSaved={saved} />
      )}
      <div class="actions">
        {confirming ? (
          <>
            <button type="button" class="danger" onClick={() => void remove()}>
              Delete {deployment.name} and its instances
            </button>
            <button type="button" onClick={() => setConfirming(false)}>
              Keep it
            </button>
          </>
        ) : (
          <>
            <button
              type="button"
              onClick={() => setEditing(editing === 'scale' ? null : 'scale')}
              aria-expanded={editing === 'scale'}
              aria-label={`Scale ${deployment.name}…`}
            >
              Scale…
            </button>
            <button
              type="button"
              onClick={() => setEditing(editing === 'change' ? null : 'change')}
              aria-expanded={editing === 'change'}
              aria-label={`Change ${deployment.name}…`}
            >
              Change…
            </button>
            <button type="button" onClick={() => setConfirming(true)}>
              Delete…
            </button>
          </>
        )}
      </div>
      {error && <p class="note note-error">{error}</p>}
    </li>
  );
}

/** Deployments with their instances (state, download progress, log), and the form for a new one. */
export function DeploymentsPage() {
  const { data, error, refresh } = usePoll((signal) => loadFleet(signal), 2000, []);
  return (
    <>
      <PageTitle title="Deployments and instances" />
      <ErrorNote error={error} />
      {data && <DeploymentForm sites={data.sites} nodes={data.nodes} onCreated={refresh} />}
      {data && data.deployments.length === 0 && <p class="muted">No deployments yet.</p>}
      <ul class="stack" aria-label="Deployments">
        {data?.deployments.map((deployment) => (
          <DeploymentCard key={deployment.id} deployment={deployment} data={data} onChange={refresh} />
        ))}
      </ul>
    </>
  );
}
