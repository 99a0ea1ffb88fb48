import type { IncomingMessage } from 'node:http';
import { bearerToken, hashesEqual, hashSecret } from '../../http/bearer-secret.js';
import type { ApiKeyRoleName } from '../../spec/api-keys.js';
import { EdgeFleetError } from '../../spec/edgefleet-error.js';
import type { Store } from '../../store/store.js';
import type { ApiKey, StoredNode } from '../../store/store-types.js';

/** The bearer secret of a request, or a 401. */
export function bearerSecret(request: IncomingMessage): string {
  return bearerToken(request.headers.authorization);
}

/**
 * The key of a request, which must have one of `roles`: 401 when missing, unknown or revoked; 403
 * `forbidden` naming `what` the key may not use.
 */
export async function requireRole(
  store: Store,
  request: IncomingMessage,
  roles: readonly ApiKeyRoleName[],
  what: string,
): Promise<ApiKey> {
  const key = await requireApiKey(store, request);
  if (!roles.includes(key.role)) {
    throw new EdgeFleetError(
      'forbidden',
      `this API key (role ${key.role}) may not use ${what} (role ${roles.join(' or ')} required)`,
    );
  }
  return key;
}

/** The admin key of a request: 401 when missing, unknown or revoked; 403 when not an admin key. */
export function requireAdmin(store: Store, request: IncomingMessage): Promise<ApiKey> {
  return requireRole(store, request, ['admin'], 'the management API');
}

/** The node whose credential the request carries; 401 when unknown or revoked. */
export async function requireNode(store: Store, request: IncomingMessage): Promise<StoredNode> {
  const hash = hashSecret(bearerSecret(request));
  const node = await store.findNodeByCredentialHash(hash);
  if (!node || node.revokedAtMs !== null || !hashesEqual(node.credentialHash, hash)) {
    throw new EdgeFleetError('unauthorized', 'invalid or revoked node credential');
  }
  return node;
}

/** Any API key that is not revoked (whatever its role); 401 otherwise. */
export async function requireApiKey(store: Store, request: IncomingMessage): Promise<ApiKey> {
  const hash = hashSecret(bearerSecret(request));
  const key = await store.findApiKeyByHash(hash);
  if (!key || key.revokedAtMs !== null || !hashesEqual(key.keyHash, hash)) {
    throw new EdgeFleetError('unauthorized', 'invalid or revoked API key');
  }
  return key;
}
