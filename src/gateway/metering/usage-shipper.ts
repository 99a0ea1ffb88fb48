/**
 * Ships the usage journal to the control plane's store: every interval (and on `flush()`), the events
 * past the checkpoint go to `ship` in batches; the checkpoint moves only after `ship` resolved, so a
 * crash anywhere ships an event again rather than never. `ship` must be idempotent by event id.
 */
import type { UsageEvent } from '../../spec/usage-event.js';
import type { Logger } from '../../telemetry/logger.js';
import type { UsageJournal } from './usage-journal.js';

export interface UsageShipperOptions {
  journal: UsageJournal;
  ship: (events: UsageEvent[]) => Promise<void>;
  log: Logger;
  intervalMs?: number;
  batchSize?: number;
  /** Called with the number of journal lines that could not be read (torn by a crash). */
  onSkipped?: (lines: number) => void;
}

export class UsageShipper {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<number> | undefined;
  private failures = 0;

  constructor(private readonly options: UsageShipperOptions) {}

  start(): void {
    const tick = () => {
      void this.flush()
        .catch(() => undefined)
        .finally(() => {
          if (this.timer) this.timer = setTimeout(tick, this.delayMs());
        });
    };
    this.timer = setTimeout(tick, 0);
  }

  /** Ships everything journaled so far; resolves with the number of events shipped. */
  flush(): Promise<number> {
    this.running ??= this.shipAll().finally(() => (this.running = undefined));
    return this.running;
  }

  async stop(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.running?.catch(() => undefined);
  }

  private delayMs(): number {
    const base = this.options.intervalMs ?? 1000;
    return Math.min(30_000, base * 2 ** Math.min(this.failures, 5));
  }

  private async shipAll(): Promise<number> {
    const { journal, ship, log } = this.options;
    let shipped = 0;
    for (;;) {
      const batch = await journal.readUnshipped(this.options.batchSize ?? 500);
      if (batch.skippedLines > 0) {
        log.warn({ lines: batch.skippedLines }, 'usage journal lines could not be read and are skipped');
        this.options.onSkipped?.(batch.skippedLines);
      }
      if (batch.events.length === 0) {
        if (batch.skippedLines > 0) await journal.markShipped(batch.next);
        this.failures = 0;
        return shipped;
      }
      try {
        await ship(batch.events);
      } catch (error) {
        this.failures += 1;
        log.warn(
          { err: error instanceof Error ? error.message : String(error), pending: batch.events.length },
          'usage records could not be shipped; kept in the journal',
        );
        throw error;
      }
      await journal.markShipped(batch.next);
      shipped += batch.events.length;
    }
  }
}
