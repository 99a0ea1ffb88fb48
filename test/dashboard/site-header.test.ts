import { describe, expect, it } from 'vitest';
import { headerValue } from '../../src/http/header-value.js';
import { siteFromHeader } from '../../web/src/chat/site-header.js';

/** The dashboard reads back the room names the gateway writes into `x-edgefleet-site`. */
describe('x-edgefleet-site in the dashboard', () => {
  it('shows every room name as it was named, whatever the gateway had to encode', () => {
    for (const site of ['north', 'room-a_1.x', '北京-1', 'Zürich', 'room 100%', '%E5']) {
      expect(siteFromHeader(headerValue(site))).toBe(site);
    }
    expect(headerValue('north')).toBe('north');
  });

  it('shows a value that is not percent-encoding as it came, and nothing for no header', () => {
    expect(siteFromHeader('100%')).toBe('100%');
    expect(siteFromHeader(null)).toBeNull();
  });
});
