import { useState } from 'preact/hooks';
import { api } from '../api/client';
import type { Endpoint } from '../api/types';
import { draftField } from '../components/draft-field';
import { SaveOrCancel } from '../components/row-editing';
import { useFormSubmit } from '../use-form-submit';

interface EditDraft {
  apiKey: string;
  upstreamModel: string;
}

/**
 * The PATCH body: a new upstream key when one was typed, `null` to remove it, and the upstream model
 * name when it changed since the form was opened (emptied: `null`, the endpoint's own model name).
 */
export function endpointChanges(
  endpoint: Endpoint,
  draft: EditDraft,
  removeKey: boolean,
): Record<string, unknown> {
  const changes: Record<string, unknown> = {};
  const key = draft.apiKey.trim();
  if (removeKey) changes['apiKey'] = null;
  else if (key !== '') changes['apiKey'] = key;
  const upstreamModel = draft.upstreamModel.trim();
  if (upstreamModel !== (endpoint.upstreamModel ?? '')) changes['upstreamModel'] = upstreamModel || null;
  return changes;
}

/**
 * Rotates an endpoint's upstream key or changes the model name sent upstream, in place
 * (`PATCH /api/v1/endpoints/:id`): the id stays, gateways use the change within 5 s.
 */
export function EndpointEditForm({
  endpoint,
  onSaved,
  onCancel,
}: {
  endpoint: Endpoint;
  onSaved: () => void;
  onCancel: () => void;
}) {
  const [draft, setDraft] = useState<EditDraft>({ apiKey: '', upstreamModel: endpoint.upstreamModel ?? '' });
  const [removeKey, setRemoveKey] = useState(false);
  const { error, onSubmit } = useFormSubmit(async () => {
    const changes = endpointChanges(endpoint, draft, removeKey);
    if (Object.keys(changes).length === 0) return onCancel();
    await api(`/api/v1/endpoints/${encodeURIComponent(endpoint.id)}`, { method: 'PATCH', body: changes });
    onSaved();
  });
  const field = draftField(draft, setDraft, { secret: ['apiKey'] });
  const titleId = `edit-endpoint-${endpoint.id}`;
  return (
    <form class="form" onSubmit={onSubmit} data-testid="endpoint-edit-form" aria-labelledby={titleId}>
      <h3 id={titleId}>
        Edit {endpoint.model} at {endpoint.url}
      </h3>
      <div class="grid">
        {!removeKey &&
          field('apiKey', 'New upstream API key', endpoint.hasApiKey ? 'keep the current one' : 'none')}
        {field('upstreamModel', 'Upstream model name', endpoint.model)}
      </div>
      {endpoint.hasApiKey && (
        <label class="inline">
          <input
            type="checkbox"
            checked={removeKey}
            onChange={(e) => setRemoveKey(e.currentTarget.checked)}
          />
          Remove the upstream key (the server needs none)
        </label>
      )}
      <p class="note">
        The model name, URL and site identify the endpoint: to change them, remove it and add it again.
      </p>
      <SaveOrCancel onCancel={onCancel} error={error} />
    </form>
  );
}
