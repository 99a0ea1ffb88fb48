import { describe, expect, it } from 'vitest';
import { StopMatcher } from './stop-matcher.js';

function run(stops: string[], pieces: string[]) {
  const matcher = new StopMatcher(stops);
  let text = '';
  for (const piece of pieces) {
    const result = matcher.push(piece);
    text += result.text;
    if (result.stopped) return { text, stopped: true };
  }
  return { text: text + matcher.end(), stopped: false };
}

describe('StopMatcher', () => {
  it('cuts at the first stop string, even when split across pieces', () => {
    expect(run(['END'], ['abc E', 'N', 'D tail'])).toEqual({ text: 'abc ', stopped: true });
    expect(run(['\n\n', 'xyz'], ['one two', 'xy', 'z\n\n'])).toEqual({ text: 'one two', stopped: true });
  });

  it('releases held text that turned out not to be a stop string', () => {
    const matcher = new StopMatcher(['STOP']);
    expect(matcher.push('go ST')).toEqual({ text: 'go ', stopped: false });
    expect(matcher.push('ART')).toEqual({ text: 'START', stopped: false });
    expect(run(['STOP'], ['the end ST'])).toEqual({ text: 'the end ST', stopped: false });
  });

  it('passes everything through without stop strings', () => {
    expect(run([], ['a', 'b'])).toEqual({ text: 'ab', stopped: false });
  });
});
