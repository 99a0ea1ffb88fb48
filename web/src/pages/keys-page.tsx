import { useState } from 'preact/hooks';
import { api } from '../api/client';
import type { ApiKey, CreatedKey, ListResponse } from '../api/types';
import { ErrorNote, FormError } from '../components/error-note';
import { ListTable } from '../components/list-table';
import { PageTitle } from '../components/page-title';
import { RowActions } from '../components/row-editing';
import { StatusBadge } from '../components/status-badge';
import { formatAge, formatNumber } from '../format';
import { usePoll } from '../use-poll';
import { KeyEditForm } from './key-edit-form';
import { keyField, limitOf, modelsOf } from './key-fields';
import { useFormSubmit } from '../use-form-submit';

interface Draft {
  name: string;
  role: ApiKey['role'];
  models: string;
  rpm: string;
  tpm: string;
  tokenBudget: string;
  region: string;
}

const emptyDraft: Draft = {
  name: '',
  role: 'inference',
  models: '',
  rpm: '',
  tpm: '',
  tokenBudget: '',
  region: '',
};

/** A limit field of the create form: empty is no limit. */
const limit = (draft: Draft, field: 'rpm' | 'tpm' | 'tokenBudget') =>
  limitOf(draft[field], field) ?? undefined;

function CreateKey({ onCreated }: { onCreated: (key: CreatedKey) => void }) {
  const [draft, setDraft] = useState<Draft>(emptyDraft);
  const { error, onSubmit } = useFormSubmit(async () => {
    const models = modelsOf(draft.models);
    const [rpm, tpm, tokenBudget] = [limit(draft, 'rpm'), limit(draft, 'tpm'), limit(draft, 'tokenBudget')];
    const region = draft.region.trim();
    const body = {
      name: draft.name.trim(),
      role: draft.role,
      ...(models.length > 0 && { models }),
      ...(rpm !== undefined && { rpm }),
      ...(tpm !== undefined && { tpm }),
      ...(tokenBudget !== undefined && { tokenBudget }),
      ...(region !== '' && { region }),
    };
    onCreated(await api<CreatedKey>('/api/v1/keys', { body }));
    setDraft(emptyDraft);
  });
  const field = keyField(draft, setDraft);
  return (
    <form class="card form" onSubmit={onSubmit} data-testid="key-form" aria-labelledby="new-key">
      <h2 id="new-key">New API key</h2>
      <div class="grid">
        {field('name', 'Name', 'team-a')}
        <label>
          Role
          <select
            value={draft.role}
            onChange={(e) => setDraft({ ...draft, role: e.currentTarget.value as Draft['role'] })}
          >
            <option value="inference">inference (/v1 only)</option>
            <option value="admin">admin (also the management API)</option>
            <option value="gateway">gateway (a room gateway's routes, keys and usage)</option>
            <option value="metrics">metrics (/metrics only, for Prometheus)</option>
          </select>
        </label>
        {field('models', 'Models (comma list; empty: all)', 'chat, embed')}
        {field('rpm', 'Requests per minute', 'no limit')}
        {field('tpm', 'Tokens per minute', 'no limit')}
        {field('tokenBudget', 'Token budget', 'no limit')}
        {field('region', 'Home region (optional)', 'none')}
      </div>
      <div class="actions">
        <button type="submit" class="primary">
          Create key
        </button>
      </div>
      <FormError message={error} />
    </form>
  );
}

const headings = ['Name', 'Role', 'Models', 'Limits', 'Tokens used', 'Last used'];
/** How many columns the keys table has (the buttons' too): an edit form row spans them all. */
const columns = headings.length + 1;

function KeyRow({ apiKey, onChanged }: { apiKey: ApiKey; onChanged: () => void }) {
  const [editing, setEditing] = useState(false);
  const [warnings, setWarnings] = useState<string[]>([]);
  const revoke = async (): Promise<void> => {
    await api(`/api/v1/keys/${encodeURIComponent(apiKey.id)}`, { method: 'DELETE' });
    onChanged();
  };
  const limits = [
    apiKey.rpm !== null && `${apiKey.rpm} rpm`,
    apiKey.tpm !== null && `${formatNumber(apiKey.tpm, 0)} tpm`,
    apiKey.tokenBudget !== null && `budget ${formatNumber(apiKey.tokenBudget, 0)}`,
    apiKey.region !== null && `region ${apiKey.region}`,
  ].filter(Boolean);
  const revoked = apiKey.revokedAtMs !== null;
  return (
    <>
      <tr data-testid="key-row" data-key={apiKey.name} data-revoked={revoked}>
        <th scope="row">{apiKey.name}</th>
        <td>{apiKey.role}</td>
        <td>{apiKey.models?.join(', ') ?? 'all'}</td>
        <td>{limits.join(', ') || 'none'}</td>
        <td>{formatNumber(apiKey.tokensUsed, 0)}</td>
        <td>{formatAge(apiKey.lastUsedAtMs)}</td>
        <td>
          {revoked ? (
            <StatusBadge status="revoked" />
          ) : (
            <RowActions
              name={apiKey.name}
              verb="Revoke"
              editing={editing}
              onToggleEdit={() => setEditing(!editing)}
              onConfirm={revoke}
            />
          )}
        </td>
      </tr>
      {editing && !revoked && (
        <tr>
          <td colSpan={columns}>
            <KeyEditForm
              apiKey={apiKey}
              onCancel={() => setEditing(false)}
              onSaved={(saved) => {
                setEditing(false);
                setWarnings(saved.warnings ?? []);
                onChanged();
              }}
            />
          </td>
        </tr>
      )}
      {warnings.length > 0 && (
        <tr>
          <td colSpan={columns}>
            {warnings.map((warning) => (
              <p class="note" data-testid="key-warning" key={warning}>
                {warning}
              </p>
            ))}
          </td>
        </tr>
      )}
    </>
  );
}

/** API keys: create one (its secret shown once), see limits and use, edit its limits, revoke. */
export function KeysPage() {
  const { data, error, refresh } = usePoll(
    (signal) => api<ListResponse<ApiKey>>('/api/v1/keys', { signal }),
    5000,
    [],
  );
  const [created, setCreated] = useState<CreatedKey | null>(null);
  const [copied, setCopied] = useState(false);
  const keys = [...(data?.data ?? [])].sort(
    (a, b) => Number(a.revokedAtMs !== null) - Number(b.revokedAtMs !== null),
  );
  return (
    <>
      <PageTitle title="API keys" />
      <ErrorNote error={error} />
      <CreateKey
        onCreated={(key) => {
          setCreated(key);
          setCopied(false);
          refresh();
        }}
      />
      {created && (
        <div class="card secret" role="status" data-testid="key-secret">
          <p>
            The secret of <strong>{created.name}</strong>, shown only now: copy it somewhere safe.
          </p>
          <code data-testid="key-secret-value">{created.key}</code>
          {created.warnings?.map((warning) => (
            <p class="note" data-testid="key-warning" key={warning}>
              {warning}
            </p>
          ))}
          <div class="actions">
            <button
              type="button"
              onClick={() =>
                void navigator.clipboard?.writeText(created.key).then(
                  () => setCopied(true),
                  () => setCopied(false),
                )
              }
            >
              {copied ? 'Copied' : 'Copy'}
            </button>
            <button type="button" onClick={() => setCreated(null)}>
              Done, hide it
            </button>
          </div>
        </div>
      )}
      <ListTable testId="keys-table" headings={headings}>
        {keys.map((key) => (
          <KeyRow key={key.id} apiKey={key} onChanged={refresh} />
        ))}
      </ListTable>
    </>
  );
}
