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
  /** Called with each batch once the store holds it (the key guard's budgets then count it there). */
  onShipped?: (events: UsageEvent[]) => void;
}

export class UsageShipper {
  private timer: NodeJS.Timeout | undefined;
  private started = false;
  private running: Promise<number> | undefined;
  private failures = 0;
  private scheduledDelayMs = -1;

  constructor(private readonly options: UsageShipperOptions) {}

  /**
   * Ships every `intervalMs`; after failures the interval doubles (up to 30 s). A `flush()` that succeeds
   * after failures (the caller saw the control plane or the store come back) returns to `intervalMs` at
   * once, so what is journaled after the outage is not held for the backed-off interval.
   */
  start(): void {
    this.started = true;
    this.schedule(0);
  }

  /** Ships everything journaled so far; resolves with the number of events shipped. */
  flush(): Promise<number> {
    this.running ??= this.shipAll().finally(() => (this.running = undefined));
    return this.running;
  }

  async stop(): Promise<void> {
    this.started = false;
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.running?.catch(() => undefined);
  }

  /** The delay before the next scheduled shipment (tests; -1 when none is scheduled). */
  get nextDelayMs(): number {
    return this.timer === undefined ? -1 : this.scheduledDelayMs;
  }

  private schedule(delayMs: number): void {
    clearTimeout(this.timer);
    this.scheduledDelayMs = delayMs;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.flush()
        .catch(() => undefined)
        .finally(() => {
          if (this.started && this.timer === undefined) this.schedule(this.delayMs());
        });
    }, delayMs);
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
        this.recovered();
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
      // After the checkpoint: a batch shipped again (the checkpoint could not be written) is not told twice.
      this.options.onShipped?.(batch.events);
      shipped += batch.events.length;
    }
  }

  /** A shipment succeeded: back to the base interval, now rather than after the backed-off wait. */
  private recovered(): void {
    const backedOff = this.failures > 0;
    this.failures = 0;
    if (backedOff && this.started && this.timer !== undefined) this.schedule(this.delayMs());
  }
}
