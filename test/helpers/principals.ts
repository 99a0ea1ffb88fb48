import type { KeyPrincipal } from '../../src/spec/api-keys.js';

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
