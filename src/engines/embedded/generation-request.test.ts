import { describe, expect, it } from 'vitest';
import { samplingOf } from './generation-request.js';

describe('samplingOf', () => {
  it('drops empty stop strings in either form (an empty stop would end every answer at once)', () => {
    expect(samplingOf({ stop: '' }, 8).stop).toEqual([]);
    expect(samplingOf({ stop: [''] }, 8).stop).toEqual([]);
    expect(samplingOf({ stop: ['', 'x'] }, 8).stop).toEqual(['x']);
    expect(samplingOf({ stop: 'END' }, 8).stop).toEqual(['END']);
    expect(samplingOf({}, 8).stop).toEqual([]);
  });
});
