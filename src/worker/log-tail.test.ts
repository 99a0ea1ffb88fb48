import { describe, expect, it } from 'vitest';
import { LogTail, readableLogLine } from './log-tail.js';

describe('LogTail', () => {
  it('joins chunks into lines and keeps the last ones', () => {
    const tail = new LogTail({ maxLines: 3 });
    tail.push('one\ntw');
    expect(tail.lines()).toEqual(['one']);
    tail.push('o\r\nthree\n\nfour\nfi');
    expect(tail.lines()).toEqual(['two', 'three', 'four']);
    tail.push('ve\n');
    expect(tail.lines()).toEqual(['three', 'four', 'five']);
  });

  it('keeps the last state of a carriage-return progress line', () => {
    const tail = new LogTail();
    tail.push('loading 10%\rloading 50%\rloading 100%\n');
    expect(tail.lines()).toEqual(['loading 100%']);
  });

  it('bounds bytes and line length', () => {
    const tail = new LogTail({ maxLines: 100, maxBytes: 100, maxLineChars: 40 });
    for (let i = 0; i < 10; i++) tail.append(`${i}`.repeat(30));
    expect(tail.lines()).toEqual(['6'.repeat(30), '7'.repeat(30), '8'.repeat(30), '9'.repeat(30)].slice(1));
    tail.append('x'.repeat(1000));
    const last = tail.lines().at(-1)!;
    expect(last).toHaveLength(40);
    expect(last.endsWith('…')).toBe(true);
    expect(tail.lines().reduce((sum, line) => sum + Buffer.byteLength(line), 0)).toBeLessThanOrEqual(100);
    // A line without an end that outgrows the limit is kept (cut) instead of growing without bound.
    tail.push('y'.repeat(5000));
    expect(tail.lines().at(-1)).toBe(`${'y'.repeat(39)}…`);
  });

  it('changes its version with every line', () => {
    const tail = new LogTail();
    const before = tail.version;
    tail.push('partial');
    expect(tail.version).toBe(before);
    tail.push('\n');
    expect(tail.version).toBe(before + 1);
  });
});

describe('readableLogLine', () => {
  it('turns a pino record into time, level, message and the other fields', () => {
    const record = JSON.stringify({
      level: 50,
      time: Date.UTC(2026, 0, 1, 12),
      pid: 7,
      hostname: 'h',
      name: 'engine',
      msg: 'model load failed',
      modelId: 'chat',
    });
    expect(readableLogLine(record)).toBe(
      '2026-01-01T12:00:00.000Z ERROR model load failed {"modelId":"chat"}',
    );
    const tail = new LogTail({ format: readableLogLine });
    tail.push(`${JSON.stringify({ level: 30, msg: 'ready' })}\nplain text\n{not json\n`);
    expect(tail.lines()).toEqual(['INFO ready', 'plain text', '{not json']);
  });
});
