import type { PullProgress } from '../worker/models/model-cache.js';

/** Placeholder until the pull command's progress view is shared. */
export function progressPrinter(label: string): (progress: PullProgress) => void {
  return (progress) => process.stderr.write(`\r${label} ${progress.receivedBytes}/${progress.totalBytes ?? '?'}`);
}
