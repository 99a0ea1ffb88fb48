/** The buttons of a table row that is edited in place and can be removed, and those of its edit form. */
import { useState } from 'preact/hooks';
import { messageOf } from '../use-form-submit';
import { FormError } from './error-note';

/**
 * **Edit…** (toggles the row's edit form) and **Remove…** (or Revoke…), which asks once more before it
 * calls `onConfirm`; a failure is shown beside the buttons. `label` names the row for screen readers.
 */
export function RowActions({
  name,
  label = name,
  verb,
  editing,
  onToggleEdit,
  onConfirm,
}: {
  name: string;
  label?: string;
  verb: 'Remove' | 'Revoke';
  editing: boolean;
  onToggleEdit: () => void;
  onConfirm: () => Promise<void>;
}) {
  const [confirming, setConfirming] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const confirm = async (): Promise<void> => {
    setError(null);
    setBusy(true); // a second click would send the request again
    try {
      await onConfirm();
    } catch (caught) {
      setError(messageOf(caught));
    }
    setBusy(false);
    setConfirming(false);
  };
  return (
    <>
      {confirming ? (
        <>
          <button
            type="button"
            class="danger small"
            disabled={busy}
            onClick={() => void confirm()}
            aria-label={`${verb} ${label}`}
          >
            {verb} {name}
          </button>{' '}
          <button type="button" class="small" onClick={() => setConfirming(false)}>
            Cancel
          </button>
        </>
      ) : (
        <>
          <button
            type="button"
            class="small"
            onClick={onToggleEdit}
            aria-label={`Edit ${label}…`}
            aria-expanded={editing}
          >
            Edit…
          </button>{' '}
          <button
            type="button"
            class="small"
            onClick={() => setConfirming(true)}
            aria-label={`${verb} ${label}…`}
          >
            {verb}…
          </button>
        </>
      )}
      {error && <span class="note-error"> {error}</span>}
    </>
  );
}

/** An edit form's Save and Cancel, and why the save was refused. */
export function SaveOrCancel({ onCancel, error }: { onCancel: () => void; error: string | null }) {
  return (
    <>
      <div class="actions">
        <button type="submit" class="primary">
          Save
        </button>
        <button type="button" onClick={onCancel}>
          Cancel
        </button>
      </div>
      <FormError message={error} />
    </>
  );
}
