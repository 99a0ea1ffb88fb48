/**
 * The gateway's durable usage journal: one JSON line per request, appended to
 * `<dir>/usage-<segment>.jsonl` and fsynced before `append()` resolves. Appends that arrive while a
 * sync runs share the next write and sync (group commit), so a busy gateway pays one fsync per batch.
 * A shipper reads what is past the checkpoint (`<dir>/shipped.json`) and deletes segments it has
 * shipped completely. Each start opens a new segment, so a line torn by a crash is never appended to.
 *
 * With `sync: 'interval'` an append resolves once its line is written to the file (the kernel holds it,
 * so a crash of the gateway process loses nothing) and the file is fdatasynced every `syncEveryMs`: a
 * power failure or kernel crash can cost the records of that last interval. It saves the wait for the
 * disk on every request; `'always'` (the default) waits for it.
 *
 * One process at a time may have a journal open (`<dir>/lock`, journal-lock.ts).
 */
import { mkdir, open, readdir, readFile, rename, rm, writeFile, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { constants, writeSync } from 'node:fs';
import { usageEventSchema, type UsageEvent } from '../../spec/usage-event.js';
import { JournalLock } from './journal-lock.js';

export interface JournalCheckpoint {
  segment: number;
  /** Bytes of that segment already shipped. */
  offset: number;
}

export interface UnshippedBatch {
  events: UsageEvent[];
  /** Lines that did not parse (a crash mid-write); skipped and counted, never shipped. */
  skippedLines: number;
  /** Pass to `markShipped` once the events are stored. */
  next: JournalCheckpoint;
}

interface PendingAppend {
  line: string;
  resolve: () => void;
  reject: (error: unknown) => void;
}

/** Each write returns once its data (and the file size) are on disk: one system call per batch. */
const appendDurably = constants.O_WRONLY | constants.O_CREAT | constants.O_APPEND | constants.O_DSYNC;
const appendOnly = constants.O_WRONLY | constants.O_CREAT | constants.O_APPEND;

export interface UsageJournalOptions {
  /** Segments are rotated past this size (default 8 MiB). */
  maxSegmentBytes?: number;
  /** `always` (default): fsynced before append resolves; `interval`: written at once, fsynced every `syncEveryMs`. */
  sync?: JournalSync;
  /** For `interval` (default 200). */
  syncEveryMs?: number;
}

export type JournalSync = 'always' | 'interval';
export const journalSyncModes: readonly JournalSync[] = ['always', 'interval'];

const segmentName = (segment: number) => `usage-${String(segment).padStart(8, '0')}.jsonl`;
const segmentPattern = /^usage-(\d{8})\.jsonl$/;

export class UsageJournal {
  private handle: FileHandle | undefined;
  private lock: JournalLock | undefined;
  private segment = 0;
  private segmentBytes = 0;
  private queue: PendingAppend[] = [];
  /** `interval`: appends waiting for the end of the event-loop turn. */
  private turnBatch: PendingAppend[] = [];
  private flushing: Promise<void> | undefined;
  private readonly maxSegmentBytes: number;
  private readonly sync: JournalSync;
  /** `interval`: written since the last fdatasync, and the timer that runs it. */
  private dirty = false;
  private syncTimer: NodeJS.Timeout | undefined;
  private syncing: Promise<void> | undefined;

  constructor(
    readonly dir: string,
    options: UsageJournalOptions = {},
  ) {
    this.maxSegmentBytes = options.maxSegmentBytes ?? 8 * 1024 * 1024;
    this.sync = options.sync ?? 'always';
    if (this.sync === 'interval') {
      this.syncTimer = setInterval(() => void this.syncNow(), options.syncEveryMs ?? 200);
      this.syncTimer.unref();
    }
  }

  private get flags(): number {
    return this.sync === 'always' ? appendDurably : appendOnly;
  }

  async open(): Promise<void> {
    // Usage records name keys and models: readable by the owner only, like the gateway's key cache.
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    this.lock = await JournalLock.acquire(this.dir);
    try {
      const segments = await this.segments();
      this.segment = (segments.at(-1) ?? 0) + 1;
      this.handle = await open(join(this.dir, segmentName(this.segment)), this.flags, 0o600);
      this.segmentBytes = 0;
    } catch (error) {
      await this.lock.release();
      this.lock = undefined;
      throw error;
    }
  }

  /**
   * Resolves once the event is on disk (fsynced), or with `sync: 'interval'` written to the file; rejects
   * when it could not be written (disk full…).
   */
  append(event: UsageEvent): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const pending = { line: `${JSON.stringify(event)}\n`, resolve, reject };
      if (this.sync === 'always') {
        this.queue.push(pending);
        return this.kick();
      }
      // `interval`: the appends of one event-loop turn share one write (a busy gateway finishes many
      // requests per turn); none resolves before its line is written.
      this.turnBatch.push(pending);
      if (this.turnBatch.length === 1) setImmediate(this.writeTurnBatch);
    });
  }

  /** Starts a flush unless one runs; one that ends with appends queued meanwhile starts the next. */
  private kick(): void {
    if (this.flushing) return;
    this.flushing = this.flush().finally(() => {
      this.flushing = undefined;
      if (this.queue.length > 0) this.kick();
    });
  }

  private async flush(): Promise<void> {
    while (this.queue.length > 0) {
      const batch = this.queue;
      this.queue = [];
      try {
        if (!this.handle) throw new Error('the usage journal is not open');
        const bytes = Buffer.from(batch.map((p) => p.line).join(''));
        const { bytesWritten } = await this.handle.write(bytes); // O_DSYNC: returns once on disk
        if (bytesWritten < bytes.length) await this.tornWrite(bytesWritten, bytes.length);
        this.segmentBytes += bytes.length;
        for (const pending of batch) pending.resolve();
        if (this.segmentBytes >= this.maxSegmentBytes) await this.rotate();
      } catch (error) {
        for (const pending of batch) pending.reject(error);
      }
    }
  }

  /** `interval`: one write system call for a turn's appends, to the page cache (no thread-pool round trip). */
  private readonly writeTurnBatch = () => void this.writeNow();

  private async writeNow(): Promise<void> {
    const batch = this.turnBatch;
    if (batch.length === 0) return;
    this.turnBatch = [];
    try {
      await this.flushing; // a rotation in progress
      if (!this.handle) throw new Error('the usage journal is not open');
      const bytes = Buffer.from(batch.length === 1 ? batch[0]!.line : batch.map((p) => p.line).join(''));
      const written = writeSync(this.handle.fd, bytes);
      if (written < bytes.length) await this.tornWrite(written, bytes.length);
      this.dirty = true;
      this.segmentBytes += bytes.length;
      for (const pending of batch) pending.resolve();
    } catch (error) {
      for (const pending of batch) pending.reject(error);
    }
    if (this.segmentBytes >= this.maxSegmentBytes && !this.flushing) {
      // A failed rotation is tried again after the next append (see rotate); nothing waits on this one.
      this.flushing = this.rotate()
        .catch(() => undefined)
        .finally(() => (this.flushing = undefined));
    }
  }

  /**
   * A write that stored only part of its bytes (the disk filled up in the middle): the torn tail is cut off
   * again, so the next line does not run into it and no record that was acknowledged is ever unreadable,
   * and the append fails like one the disk refused outright.
   */
  private async tornWrite(written: number, wanted: number): Promise<never> {
    await this.handle?.truncate(this.segmentBytes);
    throw Object.assign(new Error(`no space left on device: wrote ${written} of ${wanted} bytes`), {
      code: 'ENOSPC',
    });
  }

  /** `interval`: fdatasyncs what was written since the last time. */
  private async syncNow(): Promise<void> {
    if (!this.dirty || this.syncing || !this.handle) return this.syncing;
    this.dirty = false;
    this.syncing = this.handle
      .datasync()
      .catch(() => (this.dirty = true))
      .then(() => (this.syncing = undefined));
    return this.syncing;
  }

  /**
   * Moves on to a new segment. The new file is opened before the old one is closed: a rotation the disk
   * refuses (full, read-only, out of file handles) leaves the journal appending to the old segment, and
   * the next append past the size tries again.
   */
  private async rotate(): Promise<void> {
    await this.syncing;
    const old = this.handle;
    if (this.sync === 'interval') await old?.datasync();
    this.handle = await open(join(this.dir, segmentName(this.segment + 1)), this.flags, 0o600);
    this.segment += 1;
    this.segmentBytes = 0;
    await old?.close().catch(() => undefined);
  }

  /** Up to `maxEvents` events after the checkpoint, oldest first. */
  async readUnshipped(maxEvents: number, from?: JournalCheckpoint): Promise<UnshippedBatch> {
    const checkpoint = from ?? (await this.checkpoint());
    const events: UsageEvent[] = [];
    let skippedLines = 0;
    let next = checkpoint;
    for (const segment of await this.segments()) {
      if (segment < checkpoint.segment) continue;
      // Only what lies past the checkpoint is read: an idle gateway's shipper asks every second.
      const start = segment === checkpoint.segment ? checkpoint.offset : 0;
      const bytes = await readFrom(join(this.dir, segmentName(segment)), start);
      let offset = 0;
      for (;;) {
        const end = bytes.indexOf(0x0a, offset);
        if (end < 0 || events.length >= maxEvents) break;
        const parsed = safeParse(bytes.subarray(offset, end).toString('utf8'));
        if (parsed) events.push(parsed);
        else skippedLines += 1;
        offset = end + 1;
      }
      next = { segment, offset: start + offset };
      if (events.length >= maxEvents || segment === this.segment) break;
    }
    return { events, skippedLines, next };
  }

  /** Every event past the checkpoint, read `batch` at a time (the checkpoint does not move). */
  async *unshippedEvents(batch = 1000): AsyncGenerator<UsageEvent> {
    let from: JournalCheckpoint | undefined;
    for (;;) {
      const read = await this.readUnshipped(batch, from);
      yield* read.events;
      if (read.events.length < batch) return;
      from = read.next;
    }
  }

  /** Records that everything before `next` is stored, and deletes segments that are done. */
  async markShipped(next: JournalCheckpoint): Promise<void> {
    const path = join(this.dir, 'shipped.json');
    await writeFile(`${path}.tmp`, JSON.stringify(next), { mode: 0o600 });
    await rename(`${path}.tmp`, path);
    for (const segment of await this.segments()) {
      if (segment < next.segment && segment !== this.segment) {
        await rm(join(this.dir, segmentName(segment)), { force: true });
      }
    }
  }

  async close(): Promise<void> {
    clearInterval(this.syncTimer);
    await this.writeNow();
    await this.flushing;
    await this.syncing;
    if (this.sync === 'interval' && this.dirty) await this.handle?.datasync().catch(() => undefined);
    await this.handle?.close();
    this.handle = undefined;
    await this.lock?.release();
    this.lock = undefined;
  }

  private async checkpoint(): Promise<JournalCheckpoint> {
    try {
      const parsed = JSON.parse(await readFile(join(this.dir, 'shipped.json'), 'utf8')) as JournalCheckpoint;
      if (Number.isInteger(parsed.segment) && Number.isInteger(parsed.offset)) return parsed;
    } catch {
      // no checkpoint yet: everything is unshipped
    }
    return { segment: 0, offset: 0 };
  }

  private async segments(): Promise<number[]> {
    const names = await readdir(this.dir).catch(() => [] as string[]);
    return names
      .map((name) => segmentPattern.exec(name)?.[1])
      .filter((n): n is string => n !== undefined)
      .map(Number)
      .sort((a, b) => a - b);
  }
}

function safeParse(line: string): UsageEvent | null {
  try {
    const result = usageEventSchema.safeParse(JSON.parse(line));
    return result.success ? result.data : null;
  } catch {
    return null;
  }
}

/** The bytes of the file at `path` from `position` to its end (none when it is shorter or missing). */
async function readFrom(path: string, position: number): Promise<Buffer> {
  const handle = await open(path, 'r').catch(() => undefined);
  if (handle === undefined) return Buffer.alloc(0);
  try {
    const { size } = await handle.stat();
    if (size <= position) return Buffer.alloc(0);
    const bytes = Buffer.alloc(size - position);
    const { bytesRead } = await handle.read(bytes, 0, bytes.length, position);
    return bytes.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
}
