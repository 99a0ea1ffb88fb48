import { describe, expect, it } from 'vitest';
import { InstanceLogs } from './instance-logs.js';

describe('InstanceLogs', () => {
  it('keeps the latest tail per instance', () => {
    const logs = new InstanceLogs();
    logs.record('a', ['one'], 1);
    logs.record('a', ['two', 'three'], 2);
    expect(logs.get('a')).toEqual({ lines: ['two', 'three'], updatedAtMs: 2 });
    expect(logs.get('b')).toBeUndefined();
  });

  it('drops the least recently updated instance beyond its bound', () => {
    const logs = new InstanceLogs(2);
    logs.record('a', ['a'], 1);
    logs.record('b', ['b'], 2);
    logs.record('a', ['a2'], 3);
    logs.record('c', ['c'], 4);
    expect(logs.get('b')).toBeUndefined();
    expect(logs.get('a')?.lines).toEqual(['a2']);
    expect(logs.get('c')?.lines).toEqual(['c']);
  });
});
