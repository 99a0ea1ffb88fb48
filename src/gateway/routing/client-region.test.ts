import { describe, expect, it } from 'vitest';
import { parseCidr, parseIp, RegionMap, resolveClientRegion } from './client-region.js';

describe('client region', () => {
  it('parses IPv4, IPv6 and IPv4-mapped addresses, and refuses junk', () => {
    const cases: [string, { family: number; value: bigint } | null][] = [
      ['10.0.0.1', { family: 4, value: 0x0a000001n }],
      ['::ffff:10.0.0.1', { family: 4, value: 0x0a000001n }],
      ['::1', { family: 6, value: 1n }],
      ['[2001:db8::1]', { family: 6, value: (0x20010db8n << 96n) | 1n }],
      ['fe80::1%eth0', { family: 6, value: (0xfe80n << 112n) | 1n }],
      ['2001:db8:0:0:0:0:0:1', { family: 6, value: (0x20010db8n << 96n) | 1n }],
      ['::ffff:1.2.3.4', { family: 4, value: 0x01020304n }],
      ['256.0.0.1', null],
      ['1.2.3', null],
      ['2001:db8::1::2', null],
      ['1:2:3:4:5:6:7:8:9', null],
      ['gggg::1', null],
      ['', null],
    ];
    for (const [text, expected] of cases) expect(parseIp(text), text).toEqual(expected);
  });

  it('parses CIDRs and masks their host bits', () => {
    expect(parseCidr('10.1.2.3/16')).toEqual({ family: 4, network: 0x0a010000n, prefixLength: 16 });
    expect(parseCidr('2001:db8::/32')).toEqual({ family: 6, network: 0x20010db8n << 96n, prefixLength: 32 });
    expect(parseCidr('10.0.0.9')).toMatchObject({ prefixLength: 32 });
    for (const bad of ['10.0.0.0/33', '::/129', '10.0.0.0/x', 'nope/8', '1.2.3.4/8/9']) {
      expect(parseCidr(bad), bad).toBeNull();
    }
  });

  it('maps addresses to regions, longest prefix first, per address family', () => {
    const map = new RegionMap([
      { cidr: '10.0.0.0/8', region: 'north' },
      { cidr: '10.2.0.0/16', region: 'south' },
      { cidr: '2001:db8:1::/48', region: 'east' },
      { cidr: '0.0.0.0/0', region: 'anywhere-v4' },
    ]);
    const cases: [string | undefined, string | null][] = [
      ['10.1.2.3', 'north'],
      ['10.2.9.9', 'south'],
      ['::ffff:10.2.0.1', 'south'],
      ['192.168.1.1', 'anywhere-v4'],
      ['2001:db8:1:ffff::5', 'east'],
      ['2001:db8:2::5', null],
      ['not an address', null],
      [undefined, null],
    ];
    for (const [address, region] of cases) expect(map.regionOf(address), String(address)).toBe(region);
  });

  it("takes the key's region, then the header, then the address, then the gateway's", () => {
    const map = new RegionMap([{ cidr: '10.0.0.0/8', region: 'by-address' }]);
    const facts = { keyRegion: 'by-key', headerRegion: 'by-header', address: '10.0.0.1' };
    expect(resolveClientRegion(facts, map, 'gw')).toEqual({ region: 'by-key', source: 'key' });
    expect(resolveClientRegion({ ...facts, keyRegion: null }, map, 'gw')).toEqual({
      region: 'by-header',
      source: 'header',
    });
    const noHeader = { ...facts, keyRegion: null, headerRegion: '  ' };
    expect(resolveClientRegion(noHeader, map, 'gw').source).toBe('address');
    expect(resolveClientRegion({ ...noHeader, address: '192.168.0.1' }, map, 'gw').source).toBe('gateway');
    expect(resolveClientRegion({ ...noHeader, address: undefined }, map, null)).toEqual({
      region: null,
      source: 'none',
    });
  });
});
