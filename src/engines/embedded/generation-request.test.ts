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

  it('passes top_k -1 (vLLM) and 0 (llama.cpp) on as 0, which node-llama-cpp takes for no top-k', () => {
    expect(samplingOf({ top_k: -1 }, 8).topK).toBe(0);
    expect(samplingOf({ top_k: 0 }, 8).topK).toBe(0);
    expect(samplingOf({ top_k: 20 }, 8).topK).toBe(20);
    expect(samplingOf({}, 8)).not.toHaveProperty('topK');
  });
});
