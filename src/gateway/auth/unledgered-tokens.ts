/**
 * Tokens this gateway counted toward key budgets that a ledger total may not hold yet. A key's budget is
 * spent when the usage ledger's total (read when the key was looked up) plus these reach it:
 * - tokens of requests journaled and not yet shipped to the control plane's store, which no ledger total
 *   holds (after a restart, those left in the journal count too: `countUnshipped`);
 * - tokens shipped after that ledger total was read. Shipments are kept per key as (time, tokens), one
 *   per second at most, for `keepShippedMs`: key totals are read again every few seconds, and one older
 *   than that (a room gateway whose key pulls fail while its shipments go through) misses what was
 *   shipped before then.
 * A ledger total read while records were being stored may count some of them twice: the budget then
 * refuses a little early rather than late. A room gateway keeps the shipments on disk too
 * (`shippedTokens`), so that one restarted while its control plane is down still counts them against
 * the ledger totals of its cached key list. Without this, a gateway that restarted (or lost its control
 * plane, whose ledger total then stays as it was) let a key spend its whole budget again.
 */
import type { UsageEvent } from '../../spec/usage-event.js';

export interface Shipment {
  atMs: number;
  tokens: number;
}

/** The shipments kept, by key id: what a restarted gateway needs to go on counting them. */
export type ShippedTokens = Record<string, Shipment[]>;

/** Shipments within this long of the key's last one are merged into it (at the later time). */
const mergeWithinMs = 1000;
/** How long shipments are kept: far longer than between two reads of a key's ledger total. */
export const keepShippedMs = 15 * 60_000;

export class UnledgeredTokens {
  private readonly unshipped = new Map<string, number>();
  private readonly shipped = new Map<string, Shipment[]>();

  /** A request's tokens, about to be journaled. */
  counted(keyId: string, tokens: number): void {
    if (tokens > 0) this.unshipped.set(keyId, (this.unshipped.get(keyId) ?? 0) + tokens);
  }

  /** Events the store now holds, shipped at `atMs`; only keys this counts for are followed. */
  stored(events: readonly UsageEvent[], atMs = Date.now()): void {
    const byKey = new Map<string, number>();
    for (const event of events) {
      const tokens = event.promptTokens + event.completionTokens;
      if (tokens > 0 && this.unshipped.has(event.keyId)) {
        byKey.set(event.keyId, (byKey.get(event.keyId) ?? 0) + tokens);
      }
    }
    for (const [keyId, tokens] of byKey) {
      const left = (this.unshipped.get(keyId) ?? 0) - tokens;
      if (left > 0) this.unshipped.set(keyId, left);
      else this.unshipped.delete(keyId);
      const list = this.shipped.get(keyId) ?? [];
      const last = list.at(-1);
      if (last && atMs - last.atMs < mergeWithinMs) {
        last.tokens += tokens;
        last.atMs = Math.max(last.atMs, atMs);
      } else list.push({ atMs, tokens });
      this.shipped.set(keyId, list);
    }
    this.forgetBefore(atMs - keepShippedMs);
  }

  /**
   * The tokens of `keyId` that a ledger total read at `ledgerAtMs` (this process's clock) does not hold.
   * Without a time, shipped tokens are taken to be in the ledger.
   */
  notIn(keyId: string, ledgerAtMs: number | undefined): number {
    let tokens = this.unshipped.get(keyId) ?? 0;
    if (ledgerAtMs === undefined) return tokens;
    for (const shipment of this.shipped.get(keyId) ?? [])
      if (shipment.atMs > ledgerAtMs) tokens += shipment.tokens;
    return tokens;
  }

  /**
   * The shipments kept after `sinceMs` (for a restart: a key list pulled at `sinceMs` holds the ones
   * before it, and one cached before them does not hold them).
   */
  shippedTokens(sinceMs = -Infinity): ShippedTokens {
    const kept: ShippedTokens = {};
    for (const [keyId, list] of this.shipped) {
      const recent = list.filter((s) => s.atMs > sinceMs).map((s) => ({ ...s }));
      if (recent.length > 0) kept[keyId] = recent;
    }
    return kept;
  }

  /** At start: the shipments an earlier run kept (`shippedTokens`), those within `keepShippedMs`. */
  restoreShipped(kept: ShippedTokens, nowMs = Date.now()): void {
    for (const [keyId, list] of Object.entries(kept)) {
      const valid = list.filter(
        (s) => Number.isFinite(s.atMs) && Number.isSafeInteger(s.tokens) && s.tokens > 0,
      );
      if (valid.length > 0) this.shipped.set(keyId, [...(this.shipped.get(keyId) ?? []), ...valid]);
    }
    this.forgetBefore(nowMs - keepShippedMs);
  }

  /** Drops shipments from before `cutoffMs` (a principal that old would not be served from). */
  private forgetBefore(cutoffMs: number): void {
    for (const [keyId, list] of this.shipped) {
      let old = 0;
      while (old < list.length && list[old]!.atMs < cutoffMs) old += 1;
      if (old === list.length) this.shipped.delete(keyId);
      else if (old > 0) list.splice(0, old);
    }
  }

  /** Counts the events an earlier run of this gateway journaled and did not ship. */
  async countUnshipped(events: AsyncIterable<UsageEvent>): Promise<number> {
    let count = 0;
    for await (const event of events) {
      this.counted(event.keyId, event.promptTokens + event.completionTokens);
      count += 1;
    }
    return count;
  }
}
