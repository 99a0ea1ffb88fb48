import { useState } from 'preact/hooks';
import { api } from '../api/client';
import type { Deployment } from '../api/types';
import { draftField } from '../components/draft-field';
import { SaveOrCancel } from '../components/row-editing';
import { useFormSubmit } from '../use-form-submit';
import { wholeNumberOf } from '../whole-number';

interface ScaleDraft {
  replicas: string;
  minReplicas: string;
}

/** A whole number of replicas from a field, or an error naming the field. */
function countOf(text: string, field: string): number {
  const message = `${field} must be a whole number`;
  const value = wholeNumberOf(text, message);
  if (value === null) throw new Error(message);
  return value;
}

/**
 * Scales a deployment in place (`PATCH /api/v1/deployments/:id`, like `edgefleet scale`): its replicas and
 * the replicas kept while idle (0: scale to zero). Only what changed is sent.
 */
export function DeploymentScaleForm({
  deployment,
  onSaved,
  onCancel,
}: {
  deployment: Deployment;
  onSaved: () => void;
  onCancel: () => void;
}) {
  const [draft, setDraft] = useState<ScaleDraft>({
    replicas: String(deployment.replicas),
    minReplicas: String(deployment.minReplicas),
  });
  const { error, onSubmit } = useFormSubmit(async () => {
    const replicas = countOf(draft.replicas, 'replicas');
    const minReplicas = countOf(draft.minReplicas, 'replicas kept while idle');
    const changes = {
      ...(replicas !== deployment.replicas && { replicas }),
      ...(minReplicas !== deployment.minReplicas && { minReplicas }),
    };
    if (Object.keys(changes).length === 0) return onCancel();
    await api(`/api/v1/deployments/${encodeURIComponent(deployment.id)}`, {
      method: 'PATCH',
      body: changes,
    });
    onSaved();
  });
  const field = draftField(draft, setDraft, {
    required: ['replicas', 'minReplicas'],
    numeric: ['replicas', 'minReplicas'],
  });
  const titleId = `scale-${deployment.id}`;
  return (
    <form class="form" onSubmit={onSubmit} data-testid="deployment-scale-form" aria-labelledby={titleId}>
      <h3 id={titleId}>Scale {deployment.name}</h3>
      <div class="grid">
        {field('replicas', 'Replicas')}
        {field('minReplicas', 'Replicas kept while idle (0: scale to zero)')}
      </div>
      <SaveOrCancel onCancel={onCancel} error={error} />
    </form>
  );
}
