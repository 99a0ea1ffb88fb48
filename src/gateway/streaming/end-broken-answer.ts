/**
 * How a client's response ends when its answer broke after the instance began it, so that it never passes
 * for a success: a stream with one error event and no `[DONE]`, a JSON answer not yet started as an error
 * answer, anything else by cutting the connection.
 */
import type { ServerResponse } from 'node:http';
import { sendError } from '../../http/respond.js';
import { EdgeFleetError, toOpenAiError } from '../../spec/edgefleet-error.js';

export interface BrokenAnswer {
  /** The answer is an event stream. */
  isStream: boolean;
  /** The engine sent an error event of its own, already relayed: no second one. */
  engineSentError: boolean;
  /** A non-streamed answer was being held (nothing of it sent yet unless its headers were). */
  held: boolean;
  /** Sends the answer's status and headers when they are not sent yet. */
  writeHead: () => void;
}

export function endBrokenAnswer(response: ServerResponse, message: string, answer: BrokenAnswer): void {
  const error = new EdgeFleetError('engine_error', message);
  if (answer.isStream) {
    if (response.destroyed) return;
    answer.writeHead();
    response.end(
      answer.engineSentError ? undefined : `data: ${JSON.stringify(toOpenAiError(error).body)}\n\n`,
    );
  } else if (answer.held && !response.headersSent) {
    sendError(response, error);
  } else {
    response.destroy();
  }
}
