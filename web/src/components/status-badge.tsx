export type Tone = 'good' | 'warn' | 'bad' | 'idle';

const tones: Record<string, Tone> = {
  up: 'good',
  running: 'good',
  ready: 'good',
  healthy: 'good',
  active: 'good',
  degraded: 'warn',
  cordoned: 'warn',
  draining: 'warn',
  pending: 'warn',
  scheduled: 'warn',
  downloading: 'warn',
  starting: 'warn',
  stopping: 'idle',
  stopped: 'idle',
  empty: 'idle',
  revoked: 'idle',
  unknown: 'idle',
  down: 'bad',
  failed: 'bad',
  unhealthy: 'bad',
  deleting: 'idle',
};

/** A coloured word for a state (`up`, `running`, `down`, …); the colour is never the only signal. */
export function StatusBadge({ status, tone }: { status: string; tone?: Tone }) {
  return <span class={`badge badge-${tone ?? tones[status] ?? 'idle'}`}>{status}</span>;
}
