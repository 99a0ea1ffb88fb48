/** A node card's maintenance buttons: cordon, drain, return to service (PATCH /api/v1/nodes/:id). */
import { useState } from 'preact/hooks';
import { api } from '../api/client';
import type { FleetNode, NodeMaintenance } from '../api/types';
import { messageOf } from '../use-form-submit';
import { FormError } from './error-note';

const actions: { to: NodeMaintenance | null; label: string; shownWhen: (NodeMaintenance | null)[] }[] = [
  { to: 'cordoned', label: 'Cordon', shownWhen: [null] },
  { to: 'draining', label: 'Drain', shownWhen: [null, 'cordoned'] },
  // What moved off stays moved; a move not finished yet is undone (its replacement removed).
  { to: 'cordoned', label: 'Stop draining', shownWhen: ['draining'] },
  { to: null, label: 'Return to service', shownWhen: ['cordoned', 'draining'] },
];

/**
 * Cordon: nothing new is placed on the node. Drain (asked once more): its instances also move to other
 * nodes, each stopped once its replacement serves. Stop draining: back to cordoned, unfinished moves undone.
 * Return to service: the node is schedulable again.
 */
export function NodeMaintenanceActions({ node, onChanged }: { node: FleetNode; onChanged: () => void }) {
  const [busy, setBusy] = useState(false);
  const [confirmingDrain, setConfirmingDrain] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const set = async (maintenance: NodeMaintenance | null): Promise<void> => {
    setError(null);
    setBusy(true); // a second click would send the request again
    try {
      await api(`/api/v1/nodes/${encodeURIComponent(node.id)}`, { method: 'PATCH', body: { maintenance } });
      onChanged();
    } catch (caught) {
      setError(messageOf(caught));
    }
    setBusy(false);
    setConfirmingDrain(false);
  };
  if (confirmingDrain) {
    // Draining moves every instance off the node: asked once more, as removing is elsewhere.
    return (
      <div class="actions" data-testid="node-maintenance">
        <span>Move every instance on {node.name} to other nodes?</span>{' '}
        <button
          type="button"
          class="danger small"
          disabled={busy}
          aria-label={`Confirm drain of ${node.name}`}
          onClick={() => void set('draining')}
        >
          Drain {node.name}
        </button>{' '}
        <button type="button" class="small" onClick={() => setConfirmingDrain(false)}>
          Cancel
        </button>
        <FormError message={error} />
      </div>
    );
  }
  return (
    <div class="actions" data-testid="node-maintenance">
      {actions
        .filter((action) => action.shownWhen.includes(node.maintenance))
        .map((action) => (
          <button
            key={action.label}
            type="button"
            class="small"
            disabled={busy}
            aria-label={`${action.label} ${node.name}`}
            onClick={() => (action.to === 'draining' ? setConfirmingDrain(true) : void set(action.to))}
          >
            {action.label}
          </button>
        ))}
      <FormError message={error} />
    </div>
  );
}
