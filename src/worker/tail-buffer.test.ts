import { describe, expect, it } from 'vitest';
import { TailBuffer } from './tail-buffer.js';

describe('TailBuffer', () => {
  it('reports the last error-level structured log line as the reason', () => {
    const tail = new TailBuffer(10);
    tail.push(
      '{"level":30,"msg":"loading"}\n{"level":50,"msg":"model failed to load","err":{"message":"bad tensor"}}\n',
    );
    tail.push('{"level":30,"msg":"bye"}\n');
    expect(tail.lastError()).toBe('model failed to load: bad tensor');
  });

  it('finds plain abort lines from llama.cpp and keeps only the last lines', () => {
    const tail = new TailBuffer(2);
    tail.push('one\ntwo\nGGML_ASSERT(x) failed\nthree');
    expect(tail.lastError()).toBe('GGML_ASSERT(x) failed');
    const quiet = new TailBuffer(2);
    quiet.push('a\nb\nc\n');
    expect(quiet.lastError()).toBe('c');
  });

  it('takes no info-level structured line for a reason; a kill says so instead', () => {
    const tail = new TailBuffer(5);
    tail.push('{"level":30,"msg":"engine listening"}\n{"level":30,"msg":"engine ready"}\n');
    expect(tail.lastError()).toBe('');
    expect(tail.exitReason(null, 'SIGKILL')).toBe('killed by SIGKILL');
    expect(tail.exitReason(1, null)).toBe('exited with code 1');
    tail.push('{"level":50,"msg":"model failed to load","err":{"message":"bad tensor"}}\n');
    expect(tail.exitReason(3, null)).toBe('model failed to load: bad tensor');
  });

  it('keeps only the end of a line that never ends (a progress bar redrawn with carriage returns)', () => {
    const tail = new TailBuffer(2);
    for (let i = 0; i <= 100_000; i++) tail.push(`downloading ${i}\r`);
    const last = tail.lastError();
    expect(last.length).toBeLessThanOrEqual(4096);
    expect(last.endsWith('downloading 100000')).toBe(true);
  });
});
