/**
 * `Expect: 100-continue`. node:http answers 100 Continue before any handler runs unless the server
 * handles 'checkContinue'; the servers createHttpServer makes do, and send the 100 only when a handler
 * starts to read the body (readBody, after its checks of the declared size and encoding). A body that
 * would be refused (over the limit, a refused key, an unknown route) is then never sent: the client gets
 * the refusal instead of the 100, as RFC 9110 intends.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';

const waiting = new WeakMap<IncomingMessage, ServerResponse>();

/** Notes that `request` expects 100 Continue, to be sent through `response` when its body is read. */
export function deferContinue(request: IncomingMessage, response: ServerResponse): void {
  waiting.set(request, response);
}

/** Sends the 100 Continue `request` waits for, if it waits for one (once). */
export function sendContinue(request: IncomingMessage): void {
  const response = waiting.get(request);
  if (response === undefined) return;
  waiting.delete(request);
  if (!response.headersSent) response.writeContinue();
}
