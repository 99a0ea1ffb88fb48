import type { KeyPrincipal } from '../../src/spec/api-keys.js';
import type { UsageEvent } from '../../src/spec/usage-event.js';

/** An inference key's principal with no limits, no allow-list and nothing spent; `fields` override. */
export function testPrincipal(keyId: string, fields: Partial<KeyPrincipal> = {}): KeyPrincipal {
  return {
    keyId,
    name: keyId,
    role: 'inference',
    allowedModels: null,
    rpm: null,
    tpm: null,
    tokenBudget: null,
    region: null,
    tokensUsed: 0,
    ...fields,
  };
}

/** A usage record of `keyId`'s request with these tokens (an answered chat request, now). */
export function testUsage(keyId: string, promptTokens: number, completionTokens = 0): UsageEvent {
  return {
    id: `${keyId}-${promptTokens}-${completionTokens}-${Math.random()}`,
    atMs: Date.now(),
    keyId,
    model: 'm',
    siteName: 's',
    instanceId: 'i',
    route: '/v1/chat/completions',
    promptTokens,
    completionTokens,
    ttftMs: null,
    durationMs: 1,
    status: 200,
    outcome: 'ok',
    usageEstimated: false,
  };
}
