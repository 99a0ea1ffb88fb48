/**
 * Where gateways' usage events land: the store's usage ledger. Idempotent by event id, so a journal
 * shipped twice (a crash between storing and checkpointing) stores each request once.
 */
import type { UsageEvent } from '../../spec/usage-event.js';
import type { NewUsageRecord, Store } from '../../store/store.js';

/** The ledger record of one event (every field of the event is kept). */
export function toUsageRecord(event: UsageEvent): NewUsageRecord {
  return {
    id: event.id,
    keyId: event.keyId,
    model: event.model,
    promptTokens: event.promptTokens,
    completionTokens: event.completionTokens,
    atMs: event.atMs,
    siteName: event.siteName,
    gatewaySite: event.gatewaySite ?? null,
    instanceId: event.instanceId,
    route: event.route,
    ttftMs: event.ttftMs,
    durationMs: event.durationMs,
    status: event.status,
    outcome: event.outcome,
    usageEstimated: event.usageEstimated,
  };
}

/** Stores a batch of events (the gateway's usage shipper calls this). */
export async function storeUsageEvents(store: Store, events: readonly UsageEvent[]): Promise<void> {
  await store.appendUsage(events.map(toUsageRecord));
}
