import { describe, expect, it } from 'vitest';
import { CircuitBreakers, type BreakerTransition } from './circuit-breaker.js';

function breakers() {
  const transitions: string[] = [];
  const book = new CircuitBreakers(
    { cooldownMs: 100, failureThreshold: 3, openMs: 1000 },
    (t: BreakerTransition) => transitions.push(`${t.from}->${t.to}`),
  );
  return { book, transitions };
}

describe('CircuitBreakers', () => {
  it('cools an instance down after a failure, and a success resets the count', () => {
    const { book } = breakers();
    book.onFailure('a', 0);
    expect(book.allows('a', 50)).toBe(false);
    expect(book.allows('a', 100)).toBe(true);
    book.onFailure('a', 100);
    book.onSuccess('a', 300);
    book.onFailure('a', 400);
    expect(book.stateOf('a', 400)).toBe('closed');
    expect(book.allows('b', 0)).toBe(true);
  });

  it('opens after consecutive failures, lets one trial through when half-open, and closes on its success', () => {
    const { book, transitions } = breakers();
    for (const at of [0, 100, 200]) book.onFailure('a', at);
    expect(book.stateOf('a', 300)).toBe('open');
    expect(book.allows('a', 1100)).toBe(false);
    expect(book.stateOf('a', 1200)).toBe('half-open');
    expect(book.allows('a', 1200)).toBe(true);
    expect(book.onSend('a', 1200)).toBe(true);
    expect(book.allows('a', 1200)).toBe(false); // one trial at a time
    expect(book.onSend('a', 1200)).toBe(false);
    book.onSuccess('a', 1300);
    expect(book.stateOf('a', 1300)).toBe('closed');
    expect(book.allows('a', 1300)).toBe(true);
    expect(transitions).toEqual(['closed->open', 'open->half-open', 'half-open->closed']);
  });

  it('opens again when the trial fails, and lets another trial through when the first was abandoned', () => {
    const { book, transitions } = breakers();
    for (const at of [0, 1, 2]) book.onFailure('a', at);
    expect(book.onSend('a', 1100)).toBe(true);
    book.onFailure('a', 1150);
    expect(book.stateOf('a', 1500)).toBe('open');
    expect(book.allows('a', 2149)).toBe(false);
    expect(book.onSend('a', 2150)).toBe(true);
    book.onAbandon('a');
    expect(book.allows('a', 2150)).toBe(true);
    expect(transitions).toEqual(['closed->open', 'open->half-open', 'half-open->open', 'open->half-open']);
  });

  it('closes on a trial that answered, on probation: one failure reopens it until a request completes', () => {
    const { book, transitions } = breakers();
    for (const at of [0, 1, 2]) book.onFailure('a', at);
    expect(book.onSend('a', 1100)).toBe(true);
    book.onTrialAnswered('a', 1110);
    expect(book.stateOf('a', 1110)).toBe('closed');
    expect(book.allows('a', 1110)).toBe(true);
    book.onFailure('a', 1500); // the trial's stream broke after it started
    expect(book.stateOf('a', 1500)).toBe('open');
    expect(book.allows('a', 2499)).toBe(false);
    expect(book.onSend('a', 2500)).toBe(true);
    book.onTrialAnswered('a', 2510);
    book.onSuccess('a', 2600); // a request completed: probation over
    book.onFailure('a', 2700);
    expect(book.stateOf('a', 2700)).toBe('closed');
    expect(book.allows('a', 2800)).toBe(true);
    book.onTrialAnswered('a', 2800); // not a trial: no change
    expect(transitions).toEqual([
      'closed->open',
      'open->half-open',
      'half-open->closed',
      'closed->open',
      'open->half-open',
      'half-open->closed',
    ]);
  });

  it('treats busy (429) as a cooldown only', () => {
    const { book } = breakers();
    for (const at of [0, 100, 200, 300]) book.onBusy('a', at);
    expect(book.stateOf('a', 350)).toBe('closed');
    expect(book.allows('a', 350)).toBe(false);
    expect(book.allows('a', 400)).toBe(true);
  });

  it('tells whether the last failure was an error answer, not a busy or unreachable instance', () => {
    const { book } = breakers();
    expect(book.heldForAnswers('a')).toBe(false);
    book.onFailure('a', 0, true);
    expect(book.heldForAnswers('a')).toBe(true);
    book.onFailure('a', 10); // unreachable
    expect(book.heldForAnswers('a')).toBe(false);
    book.onFailure('a', 20, true);
    book.onBusy('a', 30);
    expect(book.heldForAnswers('a')).toBe(false);
    book.onFailure('b', 0, true);
    book.onSuccess('b', 10);
    expect(book.heldForAnswers('b')).toBe(false);
  });
});
