import { useState } from 'preact/hooks';
import { api, ApiError } from '../api/client';
import { FormError } from '../components/error-note';
import type { DeploymentPreview, FleetNode, Site } from '../api/types';
import { MemoryBar } from '../components/memory-bar';
import { StatusBadge } from '../components/status-badge';
import { formatBytes, formatMs, formatNumber } from '../format';
import { contextTokensOf, WhatRunsFields, type WhatRunsDraft } from './what-runs-fields';

interface Draft extends WhatRunsDraft {
  name: string;
  replicas: number;
}

const emptyDraft: Draft = { name: '', model: '', quant: '', engine: '', replicas: 1, context: '', sites: [] };

/** The request body; throws for a context that is not a whole number. */
function body(draft: Draft): Record<string, unknown> {
  const contextTokens = contextTokensOf(draft);
  return {
    name: draft.name.trim(),
    model: draft.model.trim(),
    replicas: draft.replicas,
    ...(draft.quant && { quant: draft.quant }),
    ...(draft.engine && { engine: draft.engine }),
    ...(contextTokens !== null && { contextTokens }),
    ...(draft.sites.length > 0 && { sites: draft.sites }),
  };
}

/**
 * Creates a deployment in two steps: "Check fit" asks the server for the planner's fit and the placement
 * (nothing is stored), then "Create" sends the same body. Changing the form asks for a new check.
 */
export function DeploymentForm({
  sites,
  nodes,
  onCreated,
}: {
  sites: Site[];
  nodes: FleetNode[];
  onCreated: () => void;
}) {
  const [draft, setDraft] = useState<Draft>(emptyDraft);
  const [preview, setPreview] = useState<DeploymentPreview | 'unavailable' | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const change = (patch: Partial<Draft>): void => {
    setDraft({ ...draft, ...patch });
    setPreview(null);
  };

  const check = async (event: Event): Promise<void> => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      setPreview(await api<DeploymentPreview>('/api/v1/deployments/preview', { body: body(draft) }));
    } catch (caught) {
      if (caught instanceof ApiError && caught.isMissing) setPreview('unavailable');
      else setError(caught instanceof Error ? caught.message : String(caught));
    } finally {
      setBusy(false);
    }
  };

  const create = async (): Promise<void> => {
    setBusy(true);
    setError(null);
    try {
      await api('/api/v1/deployments', { body: body(draft) });
      setDraft(emptyDraft);
      setPreview(null);
      onCreated();
    } catch (caught) {
      setError(caught instanceof Error ? caught.message : String(caught));
    } finally {
      setBusy(false);
    }
  };

  const nodeName = (id: string): string => nodes.find((n) => n.id === id)?.name ?? id;
  const siteName = (id: string): string => sites.find((s) => s.id === id)?.name ?? id;

  return (
    <form class="card form" onSubmit={check} data-testid="deployment-form" aria-labelledby="new-deployment">
      <h2 id="new-deployment">New deployment</h2>
      <div class="grid">
        <label>
          Name
          <input
            name="name"
            required
            value={draft.name}
            onInput={(e) => change({ name: e.currentTarget.value })}
            placeholder="chat (clients send it as model)"
          />
        </label>
        <label>
          Replicas
          <input
            name="replicas"
            type="number"
            min={1}
            max={64}
            value={draft.replicas}
            onInput={(e) => change({ replicas: Math.max(1, Number(e.currentTarget.value) || 1) })}
          />
        </label>
        <WhatRunsFields draft={draft} change={change} sites={sites} listId="catalog-models" />
      </div>
      <div class="actions">
        <button type="submit" disabled={busy}>
          Check fit
        </button>
        <button
          type="button"
          class="primary"
          disabled={busy || preview === null}
          onClick={() => void create()}
          data-testid="deployment-create"
        >
          {preview !== null && preview !== 'unavailable' && !preview.fits
            ? 'Create anyway'
            : 'Create deployment'}
        </button>
      </div>
      <FormError message={error} />
      {preview === 'unavailable' && (
        <p class="note" data-testid="deployment-preview">
          This server cannot preview the fit; the scheduler will place the deployment after you create it.
        </p>
      )}
      {preview !== null && preview !== 'unavailable' && (
        <section class="preview" data-testid="deployment-preview" aria-live="polite">
          <h3>
            Planner fit:{' '}
            <StatusBadge
              status={preview.fits ? 'fits' : 'does not fit'}
              tone={preview.fits ? 'good' : 'bad'}
            />
          </h3>
          {preview.reasons.length > 0 && (
            <ul>
              {preview.reasons.map((reason) => (
                <li key={reason}>{reason}</li>
              ))}
            </ul>
          )}
          {preview.estimate && (
            <>
              <MemoryBar estimate={preview.estimate} />
              <p>
                {formatNumber(preview.estimate.decode.tokensPerSecondPerStream)} tok/s per stream · time to
                first token {formatMs(preview.estimate.timeToFirstTokenMs)} · up to{' '}
                {formatNumber(preview.estimate.maxConcurrency, 0)} concurrent streams
              </p>
            </>
          )}
          {preview.placements.length === 0 ? (
            <p>No placement found now.</p>
          ) : (
            <ul class="plain placements">
              {preview.placements.map((p, i) => (
                <li key={i} data-testid="deployment-placement">
                  Would run on <strong>{nodeName(p.nodeId)}</strong> in {siteName(p.siteId)}, device
                  {p.deviceIndexes.length === 1 ? '' : 's'} {p.deviceIndexes.join(', ')}
                  {p.engine ? ` with ${p.engine}` : ''}
                  {p.perDeviceBytes !== undefined ? `, ${formatBytes(p.perDeviceBytes)} per device` : ''}
                  {p.why && <p class="muted small-text">{p.why}</p>}
                </li>
              ))}
            </ul>
          )}
        </section>
      )}
    </form>
  );
}
