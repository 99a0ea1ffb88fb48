import { describe, expect, it } from 'vitest';
import { ReasoningSplitter, promptOpensThink } from './reasoning-splitter.js';

function split(pieces: string[], startInReasoning = false) {
  const splitter = new ReasoningSplitter(startInReasoning);
  const out = { reasoning: '', content: '' };
  for (const piece of [...pieces.map((p) => splitter.push(p)), splitter.end()]) {
    out.reasoning += piece.reasoning;
    out.content += piece.content;
  }
  return out;
}

describe('ReasoningSplitter', () => {
  it('splits <think> blocks into reasoning and content', () => {
    expect(split(['<think>\nplan it</think>\n\nThe answer.'])).toEqual({
      reasoning: 'plan it',
      content: 'The answer.',
    });
  });

  it('handles tags split across every possible boundary', () => {
    const text = '<think>\na b\n\nc \n</think>\n\nhello world';
    for (let cut = 1; cut < text.length; cut++) {
      for (let cut2 = cut; cut2 < text.length; cut2++) {
        const pieces = [text.slice(0, cut), text.slice(cut, cut2), text.slice(cut2)];
        expect(split(pieces)).toEqual({ reasoning: 'a b\n\nc', content: 'hello world' });
      }
    }
  });

  it('passes text without a think block through as content', () => {
    expect(split(['Hello', ' <thin', 'king> there'])).toEqual({
      reasoning: '',
      content: 'Hello <thinking> there',
    });
    expect(split(['<thi'])).toEqual({ reasoning: '', content: '<thi' });
  });

  it('keeps the leading whitespace of an answer without a think block, however it is cut', () => {
    const text = '\n    def foo():\n        return 1';
    for (let cut = 0; cut <= text.length; cut++) {
      expect(split([text.slice(0, cut), text.slice(cut)])).toEqual({ reasoning: '', content: text });
    }
    expect(split(['  ', '\n'])).toEqual({ reasoning: '', content: '  \n' });
    expect(split(['\n\n<think>r</think>\n\nanswer'])).toEqual({ reasoning: 'r', content: 'answer' });
  });

  it('starts in reasoning when the prompt opened the block', () => {
    expect(split(['reason', 'ing</th', 'ink>answer'], true)).toEqual({
      reasoning: 'reasoning',
      content: 'answer',
    });
  });

  it('keeps an unfinished think block as reasoning', () => {
    expect(split(['<think>still thinking </'])).toEqual({ reasoning: 'still thinking </', content: '' });
    expect(split(['<think>trailing   '])).toEqual({ reasoning: 'trailing', content: '' });
  });

  it('detects prompts that leave <think> open', () => {
    expect(promptOpensThink('<｜Assistant｜><think>\n')).toBe(true);
    expect(promptOpensThink('<think>x</think><｜Assistant｜>')).toBe(false);
    expect(promptOpensThink('plain')).toBe(false);
  });
});
