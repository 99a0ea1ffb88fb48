import { describe, expect, it } from 'vitest';
import { runWorkersScenario as run } from '../helpers/gateway-workers-run.js';

/**
 * A worker stopped and then killed while the primary hands out connections: none is left open and
 * unanswered (node:cluster leaves the one it sent, nodejs/node#21746), and the stopped worker gets no
 * second connection until its wait for a confirmation is over (node:cluster's round robin does the same).
 * The helper's scenario says the order of the five connections.
 */
describe('gateway workers stopped and killed while connections are handed to them', () => {
  it('closes the connection sent to the dead worker and hands the one not yet sent to another', async () => {
    const outcome = await run('killed-while-handing');
    expect(outcome.code).toBe(0);
    const { answers } = outcome;
    const first = answers[0]!.answer;
    expect(typeof first).toBe('number');
    expect(answers).toEqual([
      { answer: first, beforeKill: true },
      { answer: 'closed', beforeKill: false },
      // Not held for the stopped worker until it died: worker 0 took them at once.
      { answer: first, beforeKill: true },
      { answer: first, beforeKill: true },
      { answer: first, beforeKill: false },
    ]);
    expect(outcome.lines).toContainEqual(expect.objectContaining({ level: 'warn', handedOn: 1 }));
  });
});

describe('a gateway worker out of file descriptors when a connection is sent to it', () => {
  it('lets that connection close (no hang), and serves again once it has descriptors', async () => {
    // A low limit, so the worker runs out at once whatever the machine's limit is.
    const outcome = await run('out-of-descriptors', 1024);
    expect(outcome.code).toBe(0);
    const answers = outcome.answers.map((a) => a.answer);
    const first = answers[0];
    expect(typeof first).toBe('number');
    expect(answers.slice(1, 4)).toEqual(['closed', first, first]);
    // After its wait for a confirmation, worker 1 gets (and answers) the next connection in its turn.
    expect(typeof answers[4]).toBe('number');
    expect(answers[4]).not.toBe(first);
  });
});

describe('a gateway worker that shuts down alone', () => {
  it('gets no new connections once it said it stops', async () => {
    const outcome = await run('worker-stopping');
    expect(outcome.code).toBe(0);
    const answers = outcome.answers.map((a) => a.answer);
    expect(typeof answers[0]).toBe('number');
    expect(answers).toEqual(Array(4).fill(answers[0]));
  });
});
