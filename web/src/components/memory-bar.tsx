import type { Estimate } from '../api/types';
import { formatBytes } from '../format';

const parts = [
  { key: 'weights', label: 'Weights', class: 'seg-weights' },
  { key: 'kv', label: 'KV cache', class: 'seg-kv' },
  { key: 'compute', label: 'Compute buffers', class: 'seg-compute' },
  { key: 'overhead', label: 'Overhead', class: 'seg-overhead' },
] as const;

/**
 * Memory on the fullest device, stacked: weights, KV cache, compute buffers, overhead, against what one
 * device may use. The planner gives totals over the instance; KV, buffers and overhead split evenly, and
 * the weights are the rest of the fullest device.
 */
export function MemoryBar({ estimate }: { estimate: Estimate }) {
  const { memory, count } = estimate;
  const n = Math.max(1, count);
  const kv = memory.kvCacheBytes / n;
  const compute = memory.computeBytes / n;
  const overhead = memory.overheadBytes / n;
  const weights = Math.max(0, memory.perDeviceBytes - kv - compute - overhead);
  const values = { weights, kv, compute, overhead };
  const scale = Math.max(memory.usablePerDeviceBytes, memory.perDeviceBytes, 1);
  const limitAt = (memory.usablePerDeviceBytes / scale) * 100;
  return (
    <figure class="memory" data-testid="memory-bar">
      <figcaption>
        Memory per device: <strong>{formatBytes(memory.perDeviceBytes)}</strong> of{' '}
        {formatBytes(memory.usablePerDeviceBytes)} usable
        {memory.hostBytes > 0 ? `, plus ${formatBytes(memory.hostBytes)} in host memory` : ''}
      </figcaption>
      <div class="memory-track" aria-hidden="true">
        {parts.map((part) => (
          <div
            key={part.key}
            class={`memory-seg ${part.class}`}
            style={{ width: `${((values[part.key] / scale) * 100).toFixed(2)}%` }}
          />
        ))}
        <div class="memory-limit" style={{ left: `${limitAt.toFixed(2)}%` }} />
      </div>
      <ul class="legend">
        {parts.map((part) => (
          <li key={part.key}>
            <span class={`swatch ${part.class}`} aria-hidden="true" />
            {part.label} {formatBytes(values[part.key])}
          </li>
        ))}
      </ul>
    </figure>
  );
}
