import { useState } from 'preact/hooks';
import { api } from '../api/client';
import type { Catalog, ListResponse, Recommendation } from '../api/types';
import { StatusBadge } from '../components/status-badge';
import { formatBytes, formatMs, formatNumber, formatUsd } from '../format';

export interface FleetHardware {
  id: string;
  /** The most devices of this hardware on one node. */
  perNode: number;
}

/** The planner's ranked list of what runs well on the given hardware; a row can be opened in the estimate. */
export function RecommendPanel({
  catalog,
  fleetHardware,
  onPick,
}: {
  catalog: Catalog;
  fleetHardware: FleetHardware[];
  onPick: (rec: Recommendation, hardware: string) => void;
}) {
  const first = fleetHardware[0];
  const [hardware, setHardware] = useState(
    first?.id ?? catalog.hardware.find((h) => h.id === 'h20')?.id ?? catalog.hardware[0]?.id ?? '',
  );
  const [count, setCount] = useState(first?.perNode ?? 1);
  const [users, setUsers] = useState('');
  const [sloTtftMs, setSloTtftMs] = useState('');
  const [sloTpotMs, setSloTpotMs] = useState('');
  const [list, setList] = useState<Recommendation[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const submit = async (event: Event): Promise<void> => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    const optional = (name: string, value: string) => (value.trim() === '' ? {} : { [name]: Number(value) });
    try {
      const answer = await api<ListResponse<Recommendation>>('/api/v1/planner/recommend', {
        body: {
          hardware,
          count,
          ...optional('users', users),
          ...optional('sloTtftMs', sloTtftMs),
          ...optional('sloTpotMs', sloTpotMs),
        },
      });
      setList(answer.data);
    } catch (caught) {
      setError(caught instanceof Error ? caught.message : String(caught));
    } finally {
      setBusy(false);
    }
  };

  return (
    <section class="card" aria-labelledby="recommend-title" data-testid="recommend">
      <h2 id="recommend-title">What can this hardware run?</h2>
      <form class="grid" onSubmit={submit}>
        <label>
          Hardware
          <select
            value={hardware}
            onChange={(e) => setHardware(e.currentTarget.value)}
            data-testid="recommend-hardware"
          >
            {fleetHardware.length > 0 && (
              <optgroup label="In your fleet">
                {fleetHardware.map((h) => (
                  <option key={`fleet-${h.id}`} value={h.id}>
                    {catalog.hardware.find((c) => c.id === h.id)?.name ?? h.id}
                  </option>
                ))}
              </optgroup>
            )}
            <optgroup label="Catalog">
              {catalog.hardware.map((h) => (
                <option key={h.id} value={h.id}>
                  {h.name ?? h.id}
                </option>
              ))}
            </optgroup>
          </select>
        </label>
        <label>
          Devices
          <input
            type="number"
            min={1}
            max={64}
            value={count}
            onInput={(e) => setCount(Math.max(1, Number(e.currentTarget.value) || 1))}
          />
        </label>
        <label>
          Concurrent users
          <input
            inputMode="numeric"
            value={users}
            placeholder="any"
            onInput={(e) => setUsers(e.currentTarget.value)}
          />
        </label>
        <label>
          TTFT target (ms)
          <input
            inputMode="numeric"
            value={sloTtftMs}
            placeholder="none"
            onInput={(e) => setSloTtftMs(e.currentTarget.value)}
          />
        </label>
        <label>
          TPOT target (ms)
          <input
            inputMode="numeric"
            value={sloTpotMs}
            placeholder="none"
            onInput={(e) => setSloTpotMs(e.currentTarget.value)}
          />
        </label>
        <div class="actions">
          <button type="submit" class="primary" disabled={busy || !hardware}>
            Recommend
          </button>
        </div>
      </form>
      {error && (
        <p class="note note-error" role="alert">
          {error}
        </p>
      )}
      {list && list.length === 0 && <p class="muted">Nothing in the catalog fits this hardware.</p>}
      {list && list.length > 0 && (
        <div class="table-wrap">
          <table data-testid="recommend-table">
            <thead>
              <tr>
                <th scope="col">Model</th>
                <th scope="col">Quant · engine</th>
                <th scope="col">Devices × replicas</th>
                <th scope="col">Streams</th>
                <th scope="col">tok/s per stream</th>
                <th scope="col">TTFT</th>
                <th scope="col">Memory per device</th>
                <th scope="col">$ / M output tokens</th>
                <th scope="col">SLO</th>
              </tr>
            </thead>
            <tbody>
              {list.map((rec, i) => (
                <tr key={`${rec.model}-${rec.quant}-${rec.engine}-${rec.devicesPerInstance}-${i}`}>
                  <th scope="row">
                    <button
                      type="button"
                      class="link-button"
                      title={rec.why.join('; ')}
                      onClick={() => onPick(rec, hardware)}
                    >
                      {rec.model}
                    </button>
                  </th>
                  <td>
                    {rec.quant} · {rec.engine}
                  </td>
                  <td>
                    {rec.devicesPerInstance} × {rec.replicas}
                  </td>
                  <td>{formatNumber(rec.totalStreams, 0)}</td>
                  <td>{formatNumber(rec.decodeTokensPerSecondPerStream)}</td>
                  <td>{formatMs(rec.timeToFirstTokenMs)}</td>
                  <td>{formatBytes(rec.perDeviceBytes)}</td>
                  <td>{formatUsd(rec.costPerMillionOutputTokensUsd)}</td>
                  <td>
                    <StatusBadge
                      status={rec.meetsSlo ? 'meets' : 'misses'}
                      tone={rec.meetsSlo ? 'good' : 'warn'}
                    />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}
