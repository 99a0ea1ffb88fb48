import { describe, expect, it } from 'vitest';
import { rankCandidates, type CandidateFacts, type RankSettings } from './rank-candidates.js';

const settings: RankSettings = {
  policy: 'least-cost',
  weights: { rtt: 1, work: 1, speed: 1, kvCache: 1, prompt: 1 },
  preferClientRegion: true,
  saturatedKvCacheUsage: 0.95,
  saturatedOutstanding: 64,
  affinity: {
    enabled: true,
    maxOutstanding: 4,
    maxKvCacheUsage: 0.9,
    maxSlowdown: 1.5,
    maxExtraRttMs: 10,
    maxPromptWorkAheadMs: 1000,
  },
  defaultTimePerOutputTokenMs: 20,
  typicalCompletionTokens: 100,
};

const c = (key: string, extra: Partial<CandidateFacts> = {}): CandidateFacts => ({
  key,
  inClientRegion: null,
  rttMs: null,
  outstanding: 0,
  kvCacheUsage: null,
  timePerOutputTokenMs: null,
  ...extra,
});

describe('rankCandidates', () => {
  const cases: {
    name: string;
    candidates: CandidateFacts[];
    owner?: string;
    overrides?: Partial<RankSettings>;
    chosen: string;
    kind: string;
  }[] = [
    { name: 'one candidate', candidates: [c('a')], chosen: 'a', kind: 'single' },
    {
      name: 'nothing measured: a tie, round robin',
      candidates: [c('a'), c('b')],
      chosen: 'a',
      kind: 'tie',
    },
    {
      name: 'fewer outstanding requests win',
      candidates: [c('a', { outstanding: 2 }), c('b', { outstanding: 1 })],
      chosen: 'b',
      kind: 'least_cost',
    },
    {
      name: 'a faster instance wins when both are idle',
      candidates: [c('h200', { timePerOutputTokenMs: 10 }), c('910b', { timePerOutputTokenMs: 40 })],
      chosen: 'h200',
      kind: 'least_cost',
    },
    {
      name: 'a fast instance with work ahead loses to an idle slow one once its queue costs more',
      candidates: [
        c('h200', { timePerOutputTokenMs: 10, outstanding: 4 }),
        c('910b', { timePerOutputTokenMs: 40 }),
      ],
      chosen: '910b',
      kind: 'least_cost',
    },
    {
      name: 'an unmeasured instance is assumed as fast as the fastest (so it gets measured)',
      candidates: [c('new'), c('known', { timePerOutputTokenMs: 10 })],
      chosen: 'known',
      kind: 'tie',
    },
    {
      name: 'a fuller KV cache costs more',
      candidates: [c('a', { kvCacheUsage: 0.8 }), c('b', { kvCacheUsage: 0.1 })],
      chosen: 'b',
      kind: 'least_cost',
    },
    {
      name: 'a nearer room wins among equals',
      candidates: [c('far', { rttMs: 40 }), c('near', { rttMs: 2 })],
      chosen: 'near',
      kind: 'least_cost',
    },
    {
      name: 'the client region wins even when its instance is slower',
      candidates: [
        c('remote', { inClientRegion: false, timePerOutputTokenMs: 5 }),
        c('local', { inClientRegion: true, timePerOutputTokenMs: 40, outstanding: 3 }),
      ],
      chosen: 'local',
      kind: 'single',
    },
    {
      name: 'spill over when the client region has no capacity',
      candidates: [
        c('remote', { inClientRegion: false }),
        c('local', { inClientRegion: true, kvCacheUsage: 0.97 }),
      ],
      chosen: 'remote',
      kind: 'spillover',
    },
    {
      name: 'out of the region by cost when the client region has no instance (no spill: none is full)',
      candidates: [c('r1', { inClientRegion: false, outstanding: 1 }), c('r2', { inClientRegion: false })],
      chosen: 'r2',
      kind: 'least_cost',
    },
    {
      name: 'region preference off: cost alone',
      candidates: [
        c('remote', { inClientRegion: false }),
        c('local', { inClientRegion: true, outstanding: 2 }),
      ],
      overrides: { preferClientRegion: false },
      chosen: 'remote',
      kind: 'least_cost',
    },
    {
      name: 'prefix affinity beats cost',
      candidates: [c('a', { outstanding: 2 }), c('b')],
      owner: 'a',
      chosen: 'a',
      kind: 'prefix_affinity',
    },
    {
      name: 'prefix affinity is overridden at the outstanding threshold',
      candidates: [c('a', { outstanding: 4 }), c('b', { outstanding: 1 })],
      owner: 'a',
      chosen: 'b',
      kind: 'least_cost',
    },
    {
      name: 'prefix affinity is overridden by a full KV cache',
      candidates: [c('a', { kvCacheUsage: 0.93 }), c('b')],
      owner: 'a',
      chosen: 'b',
      kind: 'least_cost',
    },
    {
      name: "prefix affinity is overridden by another client's long prompt still to process there",
      candidates: [
        c('a', { outstanding: 1, promptWorkAheadMs: 2400, timePerPromptTokenMs: 0.3 }),
        c('b', { outstanding: 1, promptWorkAheadMs: 10, timePerPromptTokenMs: 0.3 }),
      ],
      owner: 'a',
      chosen: 'b',
      kind: 'least_cost',
    },
    {
      name: 'prefix affinity keeps an owner with little prompt work ahead',
      candidates: [
        c('a', { outstanding: 1, promptWorkAheadMs: 900, timePerPromptTokenMs: 0.3 }),
        c('b', { timePerPromptTokenMs: 0.3 }),
      ],
      owner: 'a',
      chosen: 'a',
      kind: 'prefix_affinity',
    },
    {
      name: 'equal request counts: the instance with less prompt processing ahead wins',
      candidates: [
        c('a', { outstanding: 1, promptWorkAheadMs: 2400, timePerPromptTokenMs: 0.3 }),
        c('b', { outstanding: 1, promptWorkAheadMs: 5, timePerPromptTokenMs: 0.3 }),
      ],
      chosen: 'b',
      kind: 'least_cost',
    },
    {
      name: 'a long prompt goes where prompts are processed faster',
      candidates: [
        c('slow-prefill', { timePerPromptTokenMs: 2 }),
        c('fast-prefill', { timePerPromptTokenMs: 0.2 }),
      ],
      overrides: { promptTokens: 8000 },
      chosen: 'fast-prefill',
      kind: 'least_cost',
    },
    {
      name: 'the prompt term weighted 0: prompt work ahead is ignored (a tie)',
      candidates: [
        c('a', { outstanding: 1, promptWorkAheadMs: 2400, timePerPromptTokenMs: 0.3 }),
        c('b', { outstanding: 1, promptWorkAheadMs: 5, timePerPromptTokenMs: 0.3 }),
      ],
      overrides: { weights: { rtt: 1, work: 1, speed: 1, kvCache: 1, prompt: 0 } },
      chosen: 'a',
      kind: 'tie',
    },
    {
      name: 'prefix affinity skips an instance much slower than the fastest',
      candidates: [c('slow', { timePerOutputTokenMs: 40 }), c('fast', { timePerOutputTokenMs: 10 })],
      owner: 'slow',
      chosen: 'fast',
      kind: 'least_cost',
    },
    {
      name: 'prefix affinity keeps an instance about as fast as the fastest',
      candidates: [
        c('a', { timePerOutputTokenMs: 12 }),
        c('b', { timePerOutputTokenMs: 10 }),
        c('slow', { timePerOutputTokenMs: 40 }),
      ],
      owner: 'a',
      chosen: 'a',
      kind: 'prefix_affinity',
    },
    {
      name: 'prefix affinity stays inside the client region',
      candidates: [c('remote', { inClientRegion: false }), c('local', { inClientRegion: true })],
      owner: 'remote',
      chosen: 'local',
      kind: 'single',
    },
    {
      name: 'even costs: the nearest room wins (a 20 ms round trip against 40 ms in a 2 s answer)',
      candidates: [c('far', { rttMs: 40 }), c('near', { rttMs: 20 })],
      chosen: 'near',
      kind: 'least_cost',
    },
    {
      name: 'even costs: the nearest room wins even where a farther one costs a little less',
      candidates: [c('far', { rttMs: 40 }), c('near', { rttMs: 20, kvCacheUsage: 0.015 })],
      chosen: 'near',
      kind: 'least_cost',
    },
    {
      name: 'a spill under prefix affinity goes to the nearest room, not to a far prefix owner',
      candidates: [
        c('home', { inClientRegion: true, outstanding: 64 }),
        c('far', { inClientRegion: false, rttMs: 137 }),
        c('near', { inClientRegion: false, rttMs: 4 }),
      ],
      owner: 'far',
      chosen: 'near',
      kind: 'spillover',
    },
    {
      name: 'prefix affinity among one room: the owner there',
      candidates: [c('a', { rttMs: 4 }), c('b', { rttMs: 5 }), c('far', { rttMs: 137 })],
      owner: 'b',
      chosen: 'b',
      kind: 'prefix_affinity',
    },
    {
      name: 'a client region with no instance at all is no spillover',
      candidates: [c('x', { inClientRegion: false }), c('y', { inClientRegion: false })],
      chosen: 'x',
      kind: 'tie',
    },
    {
      name: 'a stale slow instance with nothing outstanding gets a request to be measured again',
      candidates: [
        c('fast', { timePerOutputTokenMs: 5, outstanding: 1 }),
        c('slow', { timePerOutputTokenMs: 50, speedStale: true }),
      ],
      overrides: { affinity: { ...settings.affinity, enabled: false } },
      chosen: 'slow',
      kind: 'least_cost',
    },
    {
      name: 'a stale slow instance with one outstanding counts at its measured speed',
      candidates: [
        c('fast', { timePerOutputTokenMs: 5, outstanding: 1 }),
        c('slow', { timePerOutputTokenMs: 50, speedStale: true, outstanding: 1 }),
      ],
      chosen: 'fast',
      kind: 'least_cost',
    },
    {
      name: 'round-robin policy ignores measurements',
      candidates: [c('a', { timePerOutputTokenMs: 100 }), c('b', { timePerOutputTokenMs: 1 })],
      overrides: { policy: 'round-robin' },
      chosen: 'a',
      kind: 'round_robin',
    },
    {
      name: 'weights switch terms off: speed ignored, load decides',
      candidates: [
        c('fast', { timePerOutputTokenMs: 5, outstanding: 1 }),
        c('slow', { timePerOutputTokenMs: 50 }),
      ],
      overrides: { weights: { rtt: 1, work: 1, speed: 0, kvCache: 1, prompt: 1 } },
      chosen: 'slow',
      kind: 'least_cost',
    },
  ];

  it('calls leaving a region whose instances are down or tried a spillover', () => {
    const away = [c('x', { inClientRegion: false }), c('y', { inClientRegion: false })];
    expect(rankCandidates(away, settings, 0, undefined, true)?.kind).toBe('spillover');
    expect(rankCandidates(away, settings, 0, undefined, false)?.kind).toBe('tie');
  });

  it('leaves ties to round robin when the round trip is weighted 0', () => {
    const pool = [c('far', { rttMs: 40 }), c('near', { rttMs: 20 })];
    const off = { ...settings, weights: { ...settings.weights, rtt: 0 } };
    const picks = [0, 1, 2, 3].map((turn) => rankCandidates(pool, off, turn)?.chosen);
    expect(picks).toEqual(['far', 'near', 'far', 'near']);
  });

  for (const test of cases) {
    it(test.name, () => {
      const owner = test.owner;
      const ranking = rankCandidates(
        test.candidates,
        { ...settings, ...test.overrides },
        0,
        owner === undefined ? undefined : (keys) => (keys.includes(owner) ? owner : undefined),
      );
      expect(ranking?.chosen).toBe(test.chosen);
      expect(ranking?.kind).toBe(test.kind);
      expect(ranking?.why().length).toBeGreaterThan(0);
    });
  }

  it('rotates ties with the turn, and says nothing for no candidates', () => {
    const pool = [c('a'), c('b'), c('c')];
    const picks = [0, 1, 2, 3].map((turn) => rankCandidates(pool, settings, turn)?.chosen);
    expect(picks).toEqual(['a', 'b', 'c', 'a']);
    expect(rankCandidates([], settings, 0)).toBeUndefined();
  });

  it('sends a burst after a lull by what was measured before it, one request to each stale instance', () => {
    const outstanding = { fast: 0, slow: 0 };
    for (let i = 0; i < 8; i++) {
      const ranking = rankCandidates(
        [
          c('fast', { timePerOutputTokenMs: 5, speedStale: true, outstanding: outstanding.fast }),
          c('slow', { timePerOutputTokenMs: 50, speedStale: true, outstanding: outstanding.slow }),
        ],
        settings,
        i,
      )!;
      outstanding[ranking.chosen as 'fast' | 'slow'] += 1;
    }
    expect(outstanding).toEqual({ fast: 7, slow: 1 });
  });

  it('gives a fast instance about as many concurrent requests as its speed allows', () => {
    // Two instances, one 3x faster: handing out requests one by one (never released) by least cost
    // should give the fast one about three in four.
    const outstanding = { fast: 0, slow: 0 };
    for (let i = 0; i < 40; i++) {
      const ranking = rankCandidates(
        [
          c('fast', { timePerOutputTokenMs: 10, outstanding: outstanding.fast }),
          c('slow', { timePerOutputTokenMs: 30, outstanding: outstanding.slow }),
        ],
        settings,
        i,
      )!;
      outstanding[ranking.chosen as 'fast' | 'slow'] += 1;
    }
    expect(outstanding.fast).toBeGreaterThanOrEqual(28);
    expect(outstanding.fast).toBeLessThanOrEqual(32);
  });
});
