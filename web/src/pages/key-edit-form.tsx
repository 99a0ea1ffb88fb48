import { useState } from 'preact/hooks';
import { api } from '../api/client';
import { SaveOrCancel } from '../components/row-editing';
import type { ApiKey } from '../api/types';
import { keyField, limitOf, modelsOf } from './key-fields';
import { useFormSubmit } from '../use-form-submit';

interface EditDraft {
  name: string;
  models: string;
  rpm: string;
  tpm: string;
  tokenBudget: string;
  region: string;
}

const limitText = (value: number | null): string => (value === null ? '' : String(value));

function draftOf(key: ApiKey): EditDraft {
  return {
    name: key.name,
    models: key.models?.join(', ') ?? '',
    rpm: limitText(key.rpm),
    tpm: limitText(key.tpm),
    tokenBudget: limitText(key.tokenBudget),
    region: key.region ?? '',
  };
}

/**
 * The PATCH body: only the fields this form changed since it was opened (a change someone else made
 * meanwhile to another field is not undone). An emptied field removes the limit, the allow-list (every
 * model) or the region (`null`); a limit field that is not a whole number is an error, not "no limit".
 */
export function keyChanges(opened: EditDraft, draft: EditDraft): Record<string, unknown> {
  const changes: Record<string, unknown> = {};
  const changed = (field: keyof EditDraft) => draft[field].trim() !== opened[field].trim();
  if (changed('name')) changes['name'] = draft.name.trim();
  const models = modelsOf(draft.models);
  if (models.join(',') !== modelsOf(opened.models).join(','))
    changes['models'] = models.length > 0 ? models : null;
  for (const field of ['rpm', 'tpm', 'tokenBudget'] as const) {
    if (changed(field)) changes[field] = limitOf(draft[field], field);
  }
  if (changed('region')) changes['region'] = draft.region.trim() || null;
  return changes;
}

/**
 * Edits a key's name, models, limits and region in place (`PATCH /api/v1/keys/:id`); the secret stays.
 * Gateways apply the change within 5 s.
 */
export function KeyEditForm({
  apiKey,
  onSaved,
  onCancel,
}: {
  apiKey: ApiKey;
  onSaved: (saved: ApiKey & { warnings?: string[] }) => void;
  onCancel: () => void;
}) {
  const [opened] = useState<EditDraft>(() => draftOf(apiKey));
  const [draft, setDraft] = useState<EditDraft>(opened);
  const { error, onSubmit } = useFormSubmit(async () => {
    const changes = keyChanges(opened, draft);
    if (Object.keys(changes).length === 0) return onCancel();
    onSaved(
      await api<ApiKey & { warnings?: string[] }>(`/api/v1/keys/${encodeURIComponent(apiKey.id)}`, {
        method: 'PATCH',
        body: changes,
      }),
    );
  });
  const field = keyField(draft, setDraft);
  const titleId = `edit-key-${apiKey.id}`;
  return (
    <form class="form" onSubmit={onSubmit} data-testid="key-edit-form" aria-labelledby={titleId}>
      <h3 id={titleId}>Edit {apiKey.name}</h3>
      <div class="grid">
        {field('name', 'Name')}
        {field('models', 'Models (comma list; empty: all)', 'all')}
        {field('rpm', 'Requests per minute', 'no limit')}
        {field('tpm', 'Tokens per minute', 'no limit')}
        {field('tokenBudget', 'Token budget', 'no limit')}
        {field('region', 'Region', 'none')}
      </div>
      <p class="note">The secret stays the same; gateways apply the change within 5 s.</p>
      <SaveOrCancel onCancel={onCancel} error={error} />
    </form>
  );
}
