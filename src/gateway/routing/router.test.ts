import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import type { RouteInstance } from '../../spec/route-table.js';
import { createLogger } from '../../telemetry/logger.js';
import { Router } from './router.js';
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
