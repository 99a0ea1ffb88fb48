import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import type { RouteInstance } from '../../spec/route-table.js';
import { createLogger } from '../../telemetry/logger.js';
import { rendezvousPick } from './prefix-key.js';
import { Router, targetKey } from './router.js';
import { defaultRoutingConfig } from './routing-config.js';

const log = createLogger('test');
log.level = 'silent';

function instance(id: string): RouteInstance {
  const site = `site-${id}`;
  return {
    id,
    url: `http://127.0.0.1:1/${id}`,
    deploymentId: 'd',
    nodeId: id,
    nodeName: id,
    siteId: site,
    siteName: site,
    region: null,
  };
}

describe('Router: instances that answered 501 for a path', () => {
  const chat = instance('chat');
  const embed = instance('embed');
  let nowMs = 1_000_000;
  const router = new Router(defaultRoutingConfig({ healthCheck: { enabled: false } }), {
    registry: new Registry(),
    log,
    targets: async () => [chat, embed],
    now: () => nowMs,
  });
  const picks = (path: string) => {
    const chosen = new Set<string>();
    for (let i = 0; i < 20; i++) {
      const choice = router.choose('m', [chat, embed], { clientRegion: null, exclude: new Set(), path });
      chosen.add(choice!.instance.id);
    }
    return [...chosen].sort();
  };

  it('come last for that path only, until they are forgotten', () => {
    expect(picks('/v1/embeddings')).toEqual(['chat', 'embed']); // nothing known yet: both are used
    router.onUnsupported(chat, '/v1/embeddings');
    expect(picks('/v1/embeddings')).toEqual(['embed']);
    expect(picks('/v1/chat/completions')).toEqual(['chat', 'embed']);
    // Still asked when it is the only one left to try (the 501 reaches the client).
    const onlyChat = router.choose('m', [chat, embed], {
      clientRegion: null,
      exclude: new Set([`embed@${embed.url}`]),
      path: '/v1/embeddings',
    });
    expect(onlyChat?.instance.id).toBe('chat');
    nowMs += 5 * 60_000 + 1; // an engine restarted with embeddings on is asked again
    expect(picks('/v1/embeddings')).toEqual(['chat', 'embed']);
  });
});

describe("Router: another client's long prompt", () => {
  const a = instance('a');
  const b = instance('b');
  let nowMs = 1_000_000;
  const router = new Router(defaultRoutingConfig({ healthCheck: { enabled: false } }), {
    registry: new Registry(),
    log,
    targets: async () => [a, b],
    now: () => nowMs,
  });
  const choose = (prefixKey: string, promptTokens: number) =>
    router.choose('m', [a, b], { clientRegion: null, exclude: new Set(), prefixKey, promptTokens })!;
  /** A prefix key whose rendezvous owner among a and b is `id`. */
  const keyOwnedBy = (id: string) => {
    const keys = [a, b].map(targetKey);
    for (let i = 0; ; i++) {
      const key = `user\u0000question ${i}`;
      if (rendezvousPick(key, keys) === `${id}@${instance(id).url}`) return key;
    }
  };

  it('sends a short request where less prompt is left to process, owner or not', () => {
    const releaseLong = router.begin(a, 8000); // 4 s of prompt at the default 0.5 ms per token
    const releaseShort = router.begin(b, 20);
    const choice = choose(keyOwnedBy('a'), 20);
    expect(choice.instance.id).toBe('b');
    expect(choice.kind).toBe('least_cost');
    expect(choice.scores.find((s) => s.key.startsWith('a@'))!.terms.promptMs).toBeGreaterThan(3900);
    // Once that prompt is processed (by the estimate), the owner gets its prefix again.
    nowMs += 4100;
    expect(choose(keyOwnedBy('a'), 20).kind).toBe('prefix_affinity');
    releaseLong();
    releaseShort();
  });

  it('learns each instance’s prompt speed from streamed answers to long prompts sent while it was idle', () => {
    const measured = { ttftMs: 0, timePerOutputTokenMs: 10, completionTokens: 50, sentToIdle: true };
    const answer = (on: RouteInstance, promptTokens: number, attemptTtftMs: number, sentToIdle = true) =>
      router.onSuccess(on, 'm', { ...measured, promptTokens, attemptTtftMs, sentToIdle });
    for (let i = 0; i < 3; i++) {
      answer(a, 1000, 2000); // 2 ms per token
      answer(b, 1000, 200); // 0.2 ms per token
      answer(a, 50, 5000); // too short to tell
      answer(b, 1000, 9000, false); // it waited behind others: not its prompt speed
    }
    // a owns the prefix, but would take 10.8 s longer on this long prompt: more than the 1 s margin.
    const choice = choose(keyOwnedBy('a'), 6000);
    expect(choice.instance.id).toBe('b');
    expect(choice.kind).toBe('least_cost');
    const terms = (id: string) => choice.scores.find((s) => s.key.startsWith(`${id}@`))!.terms;
    expect(terms('a').promptMs).toBeCloseTo(12_000);
    expect(terms('b').promptMs).toBeCloseTo(1200);
    // A short prompt costs a little more there, not over the margin: the owner keeps it.
    expect(choose(keyOwnedBy('a'), 100).kind).toBe('prefix_affinity');
    // 30 s later with nothing outstanding, a's old measure no longer holds it back.
    nowMs += 31_000;
    expect(choose(keyOwnedBy('a'), 6000).instance.id).toBe('a');
  });

  it('calls an instance idle only with nothing in flight, by this gateway or by its load report', () => {
    expect(router.isIdle(a)).toBe(true);
    const release = router.begin(a, 10);
    expect(router.isIdle(a)).toBe(false);
    release();
    const load = { atMs: nowMs, requestsRunning: 1, requestsWaiting: 0, kvCacheUsage: 0.1 };
    expect(router.isIdle({ ...a, load })).toBe(false);
    expect(router.isIdle({ ...a, load: { ...load, atMs: nowMs - 60_000 } })).toBe(true); // stale report
  });
});

describe('Router: instances that sit out for their error answers', () => {
  const a = instance('a');
  const b = instance('b');
  let nowMs = 1_000_000;
  const router = new Router(
    defaultRoutingConfig({
      healthCheck: { enabled: false },
      circuitBreaker: { cooldownMs: 1000, failureThreshold: 2, openMs: 30_000 },
    }),
    { registry: new Registry(), log, targets: async () => [a, b], now: () => nowMs },
  );
  const choose = () => router.choose('m', [a, b], { clientRegion: null, exclude: new Set() });

  it('are used when every instance sits out for them, and not while another is only busy', () => {
    router.onFailure(a, 'error_status');
    router.onFailure(a, 'error_status'); // open for 30 s
    router.onFailure(b, 'busy'); // 1 s cooldown
    // b comes back within a second: waited for, not passed over for a's errors.
    expect(choose()).toBeUndefined();
    nowMs += 1001;
    expect(choose()).toMatchObject({ instance: { id: 'b' } });
    router.onFailure(b, 'error_status');
    expect(choose()).toMatchObject({
      instance: { id: expect.stringMatching(/^[ab]$/) as unknown },
      kind: 'breaker_fallback',
    });
    // An instance that could not be reached is waited for too.
    router.onFailure(b, 'unreachable');
    expect(choose()).toBeUndefined();
  });
});
