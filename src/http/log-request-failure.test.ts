import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { EdgeFleetError } from '../spec/edgefleet-error.js';
import { logRequestFailure } from './log-request-failure.js';

function capture() {
  const lines: Record<string, unknown>[] = [];
  const log = pino({ level: 'debug' }, { write: (line: string) => void lines.push(JSON.parse(line)) });
  return { log, lines };
}

describe('logRequestFailure', () => {
  it('logs an engine or store that is not there as a warning with its code, without a stack', () => {
    const { log, lines } = capture();
    logRequestFailure(log, new EdgeFleetError('engine_unavailable', 'no running instance of "m"'), {
      path: '/v1/x',
    });
    logRequestFailure(log, new EdgeFleetError('store_unavailable', 'no key list yet'), { path: '/v1/x' });
    expect(lines.map((l) => [l['level'], l['code'], l['reason'], l['path'], l['err']])).toEqual([
      [40, 'engine_unavailable', 'no running instance of "m"', '/v1/x', undefined],
      [40, 'store_unavailable', 'no key list yet', '/v1/x', undefined],
    ]);
  });

  it('logs a bug as an error with its stack, and leaves client errors to the access log', () => {
    const { log, lines } = capture();
    logRequestFailure(log, new TypeError('x is undefined'), { path: '/api/v1/keys' });
    logRequestFailure(log, new EdgeFleetError('internal_error', 'broken invariant'), {});
    logRequestFailure(log, new EdgeFleetError('model_not_found', 'no model "q"'), {});
    expect(lines).toHaveLength(2);
    expect(lines.map((l) => l['level'])).toEqual([50, 50]);
    expect((lines[0]!['err'] as { stack: string }).stack).toMatch(/TypeError: x is undefined\n\s+at /);
  });
});
