import type { Logger } from '../telemetry/logger.js';
import type { PullProgress } from '../worker/models/model-cache.js';

/** How download progress is shown: a redrawn bar on a terminal, periodic log lines elsewhere. */
const MB = 1e6;

function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '--:--';
  const s = Math.round(seconds);
  const hms = [Math.floor(s / 3600), Math.floor((s % 3600) / 60), s % 60];
  const [h = 0, m = 0, sec = 0] = hms;
  const two = (n: number) => String(n).padStart(2, '0');
  return h > 0 ? `${h}:${two(m)}:${two(sec)}` : `${m}:${two(sec)}`;
}

/** One progress line: percent, bar, MB done of total, speed and ETA (or just MB and speed without a total). */
function formatProgress(progress: PullProgress, width: number): string {
  const { receivedBytes, totalBytes, bytesPerSecond } = progress;
  const speed = `${(bytesPerSecond / MB).toFixed(1)} MB/s`;
  const done = (receivedBytes / MB).toFixed(1);
  if (!totalBytes) return `${done} MB  ${speed}`;
  const fraction = Math.min(1, receivedBytes / totalBytes);
  const filled = Math.round(fraction * width);
  const bar = width > 0 ? `${'█'.repeat(filled)}${'░'.repeat(width - filled)} ` : '';
  const eta = bytesPerSecond > 0 ? formatDuration((totalBytes - receivedBytes) / bytesPerSecond) : '--:--';
  const percent = `${(fraction * 100).toFixed(0).padStart(3)}%`;
  return `${percent} ${bar}${done}/${(totalBytes / MB).toFixed(1)} MB  ${speed}  ETA ${eta}`;
}

export interface ProgressView {
  update(progress: PullProgress): void;
  finish(): void;
}

/** A redrawn bar on a TTY; otherwise a log line every 5 s, so CI logs and journald stay readable. */
export function progressView(ref: string, logger: Logger): ProgressView {
  const stream = process.stderr;
  if (stream.isTTY) {
    let drawn = false;
    return {
      update(progress) {
        const line = formatProgress(progress, 24).slice(0, Math.max(20, (stream.columns || 80) - 1));
        stream.write(`\r\x1b[K${line}`);
        drawn = true;
      },
      finish() {
        if (drawn) stream.write('\n');
        drawn = false;
      },
    };
  }
  let lastLogMs = -Infinity;
  return {
    update(progress) {
      const now = performance.now();
      if (now - lastLogMs < 5_000) return;
      lastLogMs = now;
      logger.info({ ref, ...progress }, `downloading ${formatProgress(progress, 0)}`);
    },
    finish() {},
  };
}

/**
 * What `edgefleet <command>` prints when Ctrl-C (or SIGTERM) stops a download: the partial file stays in
 * the cache, so the same command resumes it. The command then exits 130, like a shell for SIGINT.
 */
export function downloadInterrupted(command: string): string {
  return `edgefleet ${command}: download interrupted; run the same command again to resume\n`;
}
