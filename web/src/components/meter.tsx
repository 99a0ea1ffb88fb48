import { formatBytes } from '../format';

/** A used/total bar with its numbers in words (for devices and rooms). */
export function Meter({ used, total, label }: { used: number; total: number; label: string }) {
  const ratio = total > 0 ? Math.min(1, used / total) : 0;
  const tone = ratio > 0.9 ? 'bad' : ratio > 0.7 ? 'warn' : 'good';
  return (
    <div class="meter" title={`${label}: ${formatBytes(used)} of ${formatBytes(total)}`}>
      <div
        class="meter-track"
        role="meter"
        aria-label={label}
        aria-valuemin={0}
        aria-valuemax={total}
        aria-valuenow={used}
      >
        <div class={`meter-fill meter-${tone}`} style={{ width: `${(ratio * 100).toFixed(1)}%` }} />
      </div>
      <span class="meter-text">
        {formatBytes(used)} / {formatBytes(total)}
      </span>
    </div>
  );
}
