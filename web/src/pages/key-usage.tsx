import { api } from '../api/client';
import type { UsageReport } from '../api/types';
import { ErrorNote } from '../components/error-note';
import { TimeChart } from '../components/time-chart';
import { formatMs, formatNumber } from '../format';
import { usePoll } from '../use-poll';

const windowMinutes = 60;

/** Tokens per minute for each API key over the last hour (the usage ledger), and the totals per key. */
export function KeyUsage() {
  const { data, error } = usePoll(
    (signal) => {
      const from = Math.floor(Date.now() / 60_000 - windowMinutes + 1) * 60_000;
      return api<UsageReport>(`/api/v1/usage?group_by=key&bucket=minute&from=${from}`, { signal }).then(
        (report) => ({
          report,
          from,
        }),
      );
    },
    5000,
    [],
  );
  if (!data) return <ErrorNote error={error} what="Usage per key" />;
  const times = Array.from({ length: windowMinutes }, (_, i) => data.from + i * 60_000);
  const keys = new Map<
    string,
    { name: string; requests: number; errors: number; prompt: number; completion: number; ttft: number[] }
  >();
  const perMinute = new Map<string, Array<number | null>>();
  for (const row of data.report.data) {
    const id = row.key_id ?? 'unknown';
    const entry = keys.get(id) ?? {
      name: row.key_name ?? id,
      requests: 0,
      errors: 0,
      prompt: 0,
      completion: 0,
      ttft: [],
    };
    entry.requests += row.requests;
    entry.errors += row.errors;
    entry.prompt += row.prompt_tokens;
    entry.completion += row.completion_tokens;
    if (row.mean_ttft_ms !== null) entry.ttft.push(row.mean_ttft_ms);
    keys.set(id, entry);
    const values = perMinute.get(id) ?? times.map(() => 0);
    const at = row.bucket_start ? Math.round((Date.parse(row.bucket_start) - data.from) / 60_000) : -1;
    if (at >= 0 && at < times.length)
      values[at] = (values[at] ?? 0) + row.prompt_tokens + row.completion_tokens;
    perMinute.set(id, values);
  }
  const series = [...perMinute.entries()].map(([id, values]) => ({
    label: keys.get(id)?.name ?? id,
    values,
  }));
  return (
    <section aria-labelledby="key-usage-title">
      <h2 id="key-usage-title">Usage per API key (last hour)</h2>
      <ErrorNote error={error} />
      <TimeChart
        title="Tokens per minute by key"
        unit="tokens/min"
        times={times}
        series={series}
        testId="chart-key-usage"
      />
      <div class="table-wrap">
        <table data-testid="key-usage-table">
          <thead>
            <tr>
              <th scope="col">Key</th>
              <th scope="col">Requests</th>
              <th scope="col">Errors</th>
              <th scope="col">Prompt tokens</th>
              <th scope="col">Completion tokens</th>
              <th scope="col">Mean TTFT</th>
            </tr>
          </thead>
          <tbody>
            {keys.size === 0 && (
              <tr>
                <td colSpan={6} class="muted">
                  No requests in the last hour.
                </td>
              </tr>
            )}
            {[...keys.entries()].map(([id, key]) => (
              <tr key={id} data-testid="key-usage-row" data-key={key.name}>
                <th scope="row">{key.name}</th>
                <td data-testid="key-usage-requests">{key.requests}</td>
                <td>{key.errors}</td>
                <td>{formatNumber(key.prompt, 0)}</td>
                <td>{formatNumber(key.completion, 0)}</td>
                <td>
                  {formatMs(key.ttft.length ? key.ttft.reduce((a, b) => a + b, 0) / key.ttft.length : null)}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </section>
  );
}
