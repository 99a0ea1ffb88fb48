import { useState } from 'preact/hooks';
import { api } from '../api/client';
import type { Traffic, TrafficPoint, TrafficSeries } from '../api/types';
import { ErrorNote } from '../components/error-note';
import { PageTitle } from '../components/page-title';
import { TimeChart } from '../components/time-chart';
import { formatMs, formatNumber } from '../format';
import { usePoll } from '../use-poll';
import { KeyUsage } from './key-usage';

const windowS = 300;
const stepS = 5;

const label = (s: TrafficSeries): string =>
  s.site === '*' && s.model === '*' ? 'whole fleet' : `${s.site} · ${s.model}`;
const scopeId = (s: TrafficSeries): string => `${s.site}\u0000${s.model}`;

function pick(
  series: TrafficSeries[],
  field: keyof Omit<TrafficPoint, 't'>,
): Array<{ label: string; values: Array<number | null> }> {
  return series.map((s) => ({ label: label(s), values: s.points.map((p) => p[field]) }));
}

/**
 * Live traffic from the usage ledger, refreshed every 5 s: requests/s and tokens/s per room and model,
 * TTFT and TPOT (p50/p99) for the fleet or one room × model; then usage per API key.
 */
export function TrafficPage() {
  const { data, error } = usePoll(
    (signal) => api<Traffic>(`/api/v1/traffic?windowS=${windowS}&stepS=${stepS}`, { signal }),
    5000,
    [],
  );
  const [scope, setScope] = useState('*\u0000*');
  const series = data?.series ?? [];
  const fleet = series.find((s) => s.site === '*' && s.model === '*');
  const pairs = series.filter((s) => s.site !== '*' && s.model !== '*');
  const selected = series.find((s) => scopeId(s) === scope) ?? fleet;
  const times = (fleet ?? series[0])?.points.map((p) => p.t) ?? [];
  const lines = fleet ? [fleet, ...pairs] : pairs;
  const totalRequests = fleet?.points.reduce((sum, p) => sum + p.requests, 0) ?? 0;
  const totalErrors = fleet?.points.reduce((sum, p) => sum + p.errors, 0) ?? 0;
  const lastLatency = [...(selected?.points ?? [])].reverse().find((p) => p.ttftP50Ms !== null);
  return (
    <>
      <PageTitle title="Traffic" />
      <ErrorNote error={error} what="Live traffic" />
      {data && (
        <>
          <dl class="tiles" data-testid="traffic-summary">
            <div>
              <dt>Requests (5 min)</dt>
              <dd data-testid="traffic-requests">{totalRequests}</dd>
            </div>
            <div>
              <dt>Errors (5 min)</dt>
              <dd>{totalErrors}</dd>
            </div>
            <div>
              <dt>Rooms × models</dt>
              <dd>{pairs.length}</dd>
            </div>
            <div>
              <dt>Last TTFT p50</dt>
              <dd>{formatMs(lastLatency?.ttftP50Ms)}</dd>
            </div>
            <div>
              <dt>Last TPOT p50</dt>
              <dd>{formatMs(lastLatency?.tpotP50Ms)}</dd>
            </div>
          </dl>
          <div class="chart-grid">
            <TimeChart
              title="Requests per second"
              unit="req/s"
              times={times}
              series={pick(lines, 'requestsPerSecond')}
              testId="chart-requests"
            />
            <TimeChart
              title="Tokens per second"
              unit="tok/s"
              times={times}
              series={pick(lines, 'tokensPerSecond')}
              testId="chart-tokens"
            />
          </div>
          <label class="inline">
            Latency of{' '}
            <select
              value={scope}
              onChange={(e) => setScope(e.currentTarget.value)}
              data-testid="traffic-scope"
            >
              {(fleet ? [fleet, ...pairs] : pairs).map((s) => (
                <option key={scopeId(s)} value={scopeId(s)}>
                  {label(s)}
                </option>
              ))}
            </select>
          </label>
          <div class="chart-grid">
            <TimeChart
              title="Time to first token"
              unit="ms"
              times={times}
              series={
                selected
                  ? [
                      { label: 'p50', values: selected.points.map((p) => p.ttftP50Ms) },
                      { label: 'p99', values: selected.points.map((p) => p.ttftP99Ms) },
                    ]
                  : []
              }
              testId="chart-ttft"
            />
            <TimeChart
              title="Time per output token"
              unit="ms"
              times={times}
              series={
                selected
                  ? [
                      { label: 'p50', values: selected.points.map((p) => p.tpotP50Ms) },
                      { label: 'p99', values: selected.points.map((p) => p.tpotP99Ms) },
                    ]
                  : []
              }
              testId="chart-tpot"
            />
          </div>
          <p class="muted">
            {formatNumber(windowS / 60, 0)} minutes in {stepS}-second steps, from the usage ledger; refreshed
            every 5 s.
          </p>
        </>
      )}
      <KeyUsage />
    </>
  );
}
