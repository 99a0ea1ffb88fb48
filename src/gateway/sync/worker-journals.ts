/**
 * The usage journals of a gateway's worker processes: worker 0 (and a gateway of one process) keeps
 * `<home>/usage-journal`, worker i keeps `<home>/usage-journal-<i>`. When a gateway starts with fewer
 * workers than it last ran with, the journals of the missing workers are shipped by worker 0 and removed,
 * so lowering `--workers` loses no usage record.
 */
import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { UsageEvent } from '../../spec/usage-event.js';
import type { Logger } from '../../telemetry/logger.js';
import { UsageJournal } from '../metering/usage-journal.js';
import { UsageShipper } from '../metering/usage-shipper.js';

/** The journal directory (under the gateway's home) of worker `index`. */
export function journalDirName(index: number): string {
  return index === 0 ? 'usage-journal' : `usage-journal-${index}`;
}

const workerJournal = /^usage-journal-(\d+)$/;

export interface LeftoverJournalsOptions {
  home: string;
  /** Workers of this run: journals of workers with this index or above are leftovers. */
  workers: number;
  ship: (events: UsageEvent[]) => Promise<void>;
  log: Logger;
  signal: AbortSignal;
  /** Between attempts while the control plane cannot take them (default 30 s). */
  retryMs?: number;
  /** Given, while waiting to try again, a function that ends the wait (the control plane is back). */
  onWaiting?: (tryNow: () => void) => void;
}

/**
 * Ships every leftover journal and removes it once all its records are stored; tries again every
 * `retryMs` until then or until `signal` aborts. Never rejects.
 */
export async function shipLeftoverJournals(options: LeftoverJournalsOptions): Promise<void> {
  const { home, workers, log, signal } = options;
  const names = (await readdir(home).catch(() => [] as string[])).filter((name) => {
    const match = workerJournal.exec(name);
    return match !== null && Number(match[1]) >= workers;
  });
  for (const name of names) {
    while (!signal.aborted) {
      if (await shipOne(join(home, name), options)) {
        log.info(
          { journal: name },
          'shipped and removed the usage journal of a worker this run does not have',
        );
        break;
      }
      // Closed while that attempt ran: an abort listener added now would never fire.
      if (signal.aborted) return;
      const waited = new AbortController();
      const tryNow = () => waited.abort();
      signal.addEventListener('abort', tryNow, { once: true });
      options.onWaiting?.(tryNow);
      await sleep(options.retryMs ?? 30_000, undefined, { signal: waited.signal }).catch(() => undefined);
      signal.removeEventListener('abort', tryNow);
    }
  }
}

/** True once everything in the journal at `dir` is shipped and the directory removed. */
async function shipOne(dir: string, options: LeftoverJournalsOptions): Promise<boolean> {
  const journal = new UsageJournal(dir);
  try {
    await journal.open();
    await new UsageShipper({ journal, ship: options.ship, log: options.log }).flush();
  } catch (error) {
    // A journal another live process holds (journal-lock.ts) says so; for a failed shipment the shipper
    // logged why. The records stay either way.
    if ((error as { code?: unknown }).code === 'conflict') {
      options.log.warn({ err: (error as Error).message, dir }, 'cannot ship a leftover usage journal yet');
    }
    return false;
  } finally {
    await journal.close().catch(() => undefined);
  }
  try {
    await rm(dir, { recursive: true, force: true });
    return true;
  } catch (error) {
    options.log.warn({ err: error, dir }, 'cannot remove a shipped usage journal; trying again later');
    return false;
  }
}
