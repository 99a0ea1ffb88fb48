import { useState } from 'preact/hooks';
import { api } from '../api/client';
import type { Deployment, Site } from '../api/types';
import { SaveOrCancel } from '../components/row-editing';
import { useFormSubmit } from '../use-form-submit';
import { contextTokensOf, WhatRunsFields, type WhatRunsDraft } from './what-runs-fields';

/** The PATCH body for what changed between the deployment and the form (empty: nothing changed). */
function changesOf(
  deployment: Deployment,
  draft: WhatRunsDraft,
  siteNames: string[],
): Record<string, unknown> {
  const model = draft.model.trim();
  const quant = draft.quant === '' ? null : draft.quant;
  const engine = draft.engine === '' ? null : draft.engine;
  const contextTokens = contextTokensOf(draft);
  const sameSites = [...draft.sites].sort().join('\n') === [...siteNames].sort().join('\n');
  return {
    ...(model !== deployment.modelRef && { model }),
    ...(quant !== deployment.quant && { quant }),
    ...(engine !== deployment.engine && { engine }),
    ...(contextTokens !== deployment.contextTokens && { contextTokens }),
    ...(!sameSites && { sites: draft.sites }),
  };
}

/**
 * Changes what a deployment runs (`PATCH /api/v1/deployments/:id`, like `edgefleet redeploy`): model,
 * quantization, engine, context per stream and rooms. Only what changed is sent; the server then
 * replaces the instances (a rolling update).
 */
export function DeploymentChangeForm({
  deployment,
  sites,
  onSaved,
  onCancel,
}: {
  deployment: Deployment;
  sites: Site[];
  onSaved: () => void;
  onCancel: () => void;
}) {
  // Compared with the deployment as the form opened on it, so that a change made meanwhile elsewhere
  // (the page polls) is not sent back unless this form changed that field.
  const [opened] = useState(deployment);
  const siteNames = opened.siteConstraints.map((id) => sites.find((s) => s.id === id)?.name ?? id);
  const [draft, setDraft] = useState<WhatRunsDraft>({
    model: deployment.modelRef,
    quant: deployment.quant ?? '',
    engine: deployment.engine ?? '',
    context: deployment.contextTokens === null ? '' : String(deployment.contextTokens),
    sites: siteNames,
  });
  const { error, onSubmit } = useFormSubmit(async () => {
    const changes = changesOf(opened, draft, siteNames);
    if (Object.keys(changes).length === 0) return onCancel();
    await api(`/api/v1/deployments/${encodeURIComponent(deployment.id)}`, { method: 'PATCH', body: changes });
    onSaved();
  });
  const titleId = `change-${deployment.id}`;
  return (
    <form class="form" onSubmit={onSubmit} data-testid="deployment-change-form" aria-labelledby={titleId}>
      <h3 id={titleId}>Change what {deployment.name} runs</h3>
      <p class="muted">New instances replace the old ones, which keep answering until the new ones run.</p>
      <div class="grid">
        <WhatRunsFields
          draft={draft}
          change={(patch) => setDraft({ ...draft, ...patch })}
          sites={sites}
          listId={`models-${deployment.id}`}
        />
      </div>
      <SaveOrCancel onCancel={onCancel} error={error} />
    </form>
  );
}
