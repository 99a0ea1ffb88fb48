import { useState } from 'preact/hooks';
import { api } from '../api/client';
import { FormError } from '../components/error-note';
import type { ApiKey } from '../api/types';
import { keyField, limitOf, modelsOf } from './key-fields';

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
 * The PATCH body: only what the form changed. An emptied field removes the limit, the allow-list (every
 * model) or the region (`null`); a limit field that is not a number is an error, not "no limit".
 */
export function keyChanges(key: ApiKey, draft: EditDraft): Record<string, unknown> {
  const changes: Record<string, unknown> = {};
  const name = draft.name.trim();
  if (name !== key.name) changes['name'] = name;
  const models = modelsOf(draft.models);
  if (models.join(',') !== (key.models ?? []).join(','))
    changes['models'] = models.length > 0 ? models : null;
  for (const field of ['rpm', 'tpm', 'tokenBudget'] as const) {
    const value = limitOf(draft[field], field);
    if (value !== key[field]) changes[field] = value;
  }
  const region = draft.region.trim() || null;
  if (region !== key.region) changes['region'] = region;
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
  const [draft, setDraft] = useState<EditDraft>(() => draftOf(apiKey));
  const [error, setError] = useState<string | null>(null);
  const submit = async (event: Event): Promise<void> => {
    event.preventDefault();
    setError(null);
    try {
      const changes = keyChanges(apiKey, draft);
      if (Object.keys(changes).length === 0) return onCancel();
      onSaved(
        await api<ApiKey & { warnings?: string[] }>(`/api/v1/keys/${encodeURIComponent(apiKey.id)}`, {
          method: 'PATCH',
          body: changes,
        }),
      );
    } catch (caught) {
      setError(caught instanceof Error ? caught.message : String(caught));
    }
  };
  const field = keyField(draft, setDraft);
  const titleId = `edit-key-${apiKey.id}`;
  return (
    <form class="form" onSubmit={submit} data-testid="key-edit-form" aria-labelledby={titleId}>
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
      <div class="actions">
        <button type="submit" class="primary">
          Save
        </button>
        <button type="button" onClick={onCancel}>
          Cancel
        </button>
      </div>
      <FormError message={error} />
    </form>
  );
}
