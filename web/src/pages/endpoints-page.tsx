import { useState } from 'preact/hooks';
import { api } from '../api/client';
import type { Endpoint, ListResponse } from '../api/types';
import { draftField } from '../components/draft-field';
import { ErrorNote, FormError } from '../components/error-note';
import { ListTable } from '../components/list-table';
import { PageTitle } from '../components/page-title';
import { RowActions } from '../components/row-editing';
import { StatusBadge } from '../components/status-badge';
import { formatAge } from '../format';
import { usePoll } from '../use-poll';
import { EndpointEditForm } from './endpoint-edit-form';
import { useFormSubmit } from '../use-form-submit';

interface Draft {
  model: string;
  url: string;
  site: string;
  region: string;
  apiKey: string;
  upstreamModel: string;
}

const emptyDraft: Draft = { model: '', url: '', site: '', region: '', apiKey: '', upstreamModel: '' };

/** `POST /api/v1/endpoints`: the optional fields only when filled in. */
function AddEndpoint({ onAdded }: { onAdded: () => void }) {
  const [draft, setDraft] = useState<Draft>(emptyDraft);
  const { error, onSubmit } = useFormSubmit(async () => {
    const optional = (value: string) => value.trim() || undefined;
    await api('/api/v1/endpoints', {
      body: {
        model: draft.model.trim(),
        url: draft.url.trim(),
        site: draft.site.trim(),
        region: optional(draft.region),
        apiKey: optional(draft.apiKey),
        upstreamModel: optional(draft.upstreamModel),
      },
    });
    setDraft(emptyDraft);
    onAdded();
  });
  const field = draftField(draft, setDraft, { required: ['model', 'url', 'site'], secret: ['apiKey'] });
  return (
    <form class="card form" onSubmit={onSubmit} data-testid="endpoint-form" aria-labelledby="new-endpoint">
      <h2 id="new-endpoint">Add an endpoint</h2>
      <div class="grid">
        {field('model', 'Model (the name clients use)', 'qwen-72b')}
        {field('url', 'Base URL', 'http://10.0.0.5:8000')}
        {field('site', 'Site (room)', 'edge-a')}
        {field('region', 'Region (optional)', "the site's")}
        {field('apiKey', 'Upstream API key (optional)', 'none')}
        {field('upstreamModel', 'Upstream model name (optional)', 'the model name')}
      </div>
      <div class="actions">
        <button type="submit" class="primary">
          Add endpoint
        </button>
      </div>
      <FormError message={error} />
    </form>
  );
}

const headings = ['Model', 'URL', 'Site', 'Health', 'Last check', 'Upstream key'];
/** How many columns the endpoints table has (the buttons' too): an edit form row spans them all. */
const columns = headings.length + 1;

function EndpointRow({ endpoint, onChanged }: { endpoint: Endpoint; onChanged: () => void }) {
  const [editing, setEditing] = useState(false);
  const remove = async (): Promise<void> => {
    await api(`/api/v1/endpoints/${encodeURIComponent(endpoint.id)}`, { method: 'DELETE' });
    onChanged();
  };
  return (
    <>
      <tr data-testid="endpoint-row" data-model={endpoint.model} data-health={endpoint.health}>
        <th scope="row">
          {endpoint.model}
          {endpoint.upstreamModel !== null && <div class="muted">upstream: {endpoint.upstreamModel}</div>}
        </th>
        <td class="wrap">{endpoint.url}</td>
        <td>{endpoint.site}</td>
        <td>
          <StatusBadge status={endpoint.health} />
          {endpoint.lastError !== null && (
            <div class="muted wrap" data-testid="endpoint-error">
              {endpoint.lastError}
            </div>
          )}
        </td>
        <td>{formatAge(endpoint.lastCheckAtMs)}</td>
        <td>{endpoint.hasApiKey ? 'set' : 'none'}</td>
        <td>
          <RowActions
            name={endpoint.model}
            label={`${endpoint.model} at ${endpoint.url}`}
            verb="Remove"
            editing={editing}
            onToggleEdit={() => setEditing(!editing)}
            onConfirm={remove}
          />
        </td>
      </tr>
      {editing && (
        <tr>
          <td colSpan={columns}>
            <EndpointEditForm
              endpoint={endpoint}
              onCancel={() => setEditing(false)}
              onSaved={() => {
                setEditing(false);
                onChanged();
              }}
            />
          </td>
        </tr>
      )}
    </>
  );
}

/**
 * External endpoints: OpenAI-compatible servers a team already runs (a hand-started vLLM, a MindIE box),
 * which the gateway routes to like its own instances once their health check passes.
 */
export function EndpointsPage() {
  const { data, error, refresh } = usePoll(
    (signal) => api<ListResponse<Endpoint>>('/api/v1/endpoints', { signal }),
    5000,
    [],
  );
  const endpoints = data?.data ?? [];
  return (
    <>
      <PageTitle title="External endpoints" />
      <p class="muted">
        OpenAI-compatible servers run outside EdgeFleet. The control plane asks each for{' '}
        <code>/v1/models</code> every 5 s; the gateways route to those that answer, by their site's region.
      </p>
      <ErrorNote error={error} />
      <AddEndpoint onAdded={refresh} />
      <ListTable testId="endpoints-table" headings={headings}>
        {endpoints.map((endpoint) => (
          <EndpointRow key={endpoint.id} endpoint={endpoint} onChanged={refresh} />
        ))}
      </ListTable>
      {data && endpoints.length === 0 && (
        <p class="note" data-testid="endpoints-empty">
          None yet. Add one above, or with <code>edgefleet endpoints add</code>.
        </p>
      )}
    </>
  );
}
