/**
 * A fixed bearer secret on a server that has exactly one (an engine's key): compared as SHA-256 digests
 * with `timingSafeEqual`, so neither the secret's length nor its content leaks through timing.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { EdgeFleetError } from '../spec/edgefleet-error.js';

const digest = (text: string) => createHash('sha256').update(text, 'utf8').digest();

/** Throws 401 `unauthorized` unless the request carries `Authorization: Bearer <secret>`. */
export function requireBearer(request: IncomingMessage, secret: string): void {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(request.headers.authorization ?? '');
  if (!match?.[1]) {
    throw new EdgeFleetError('unauthorized', 'missing credential: send "Authorization: Bearer <key>"');
  }
  if (!timingSafeEqual(digest(match[1]), digest(secret))) {
    throw new EdgeFleetError('unauthorized', 'invalid engine key');
  }
}
