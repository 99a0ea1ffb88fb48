import { api } from '../api/client';
import type { InstanceLog as InstanceLogResponse } from '../api/types';
import { formatTime } from '../format';
import { usePoll } from '../use-poll';
import { ErrorNote } from './error-note';

/** The tail of one instance's engine log, refreshed every 2 s while shown. */
export function InstanceLog({ id }: { id: string }) {
  const { data, error } = usePoll(
    (signal) =>
      api<InstanceLogResponse>(`/api/v1/instances/${encodeURIComponent(id)}/logs?lines=200`, { signal }),
    2000,
    [id],
  );
  return (
    <div class="log" data-testid="instance-log">
      <ErrorNote error={error} what="The instance log" />
      {data && (
        <>
          <p class="muted">
            {data.lines.length} lines{data.updatedAtMs ? `, last at ${formatTime(data.updatedAtMs)}` : ''}
          </p>
          <pre tabIndex={0} aria-label={`Log of instance ${id}`}>
            {data.lines.length > 0 ? data.lines.join('\n') : '(empty)'}
          </pre>
        </>
      )}
    </div>
  );
}
