/**
 * Where a client is: its API key's home region, else an `x-edgefleet-region` header, else the region
 * its address falls in (a CIDR → region map, IPv4 and IPv6, longest prefix wins), else the gateway's
 * own region. Pure: addresses are parsed here, not looked up.
 */

export interface Cidr {
  family: 4 | 6;
  /** The network address as a 32- or 128-bit number. */
  network: bigint;
  prefixLength: number;
}

/** An IPv4 or IPv6 address as a number, or null. IPv4-mapped IPv6 (`::ffff:10.0.0.1`) counts as IPv4. */
export function parseIp(text: string): { family: 4 | 6; value: bigint } | null {
  let address = text.trim();
  if (address.startsWith('[') && address.endsWith(']')) address = address.slice(1, -1);
  const zone = address.indexOf('%');
  if (zone >= 0) address = address.slice(0, zone);
  const v4 = parseIpv4(address);
  if (v4 !== null) return { family: 4, value: v4 };
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) {
    const inner = parseIpv4(mapped[1]!);
    return inner === null ? null : { family: 4, value: inner };
  }
  const v6 = parseIpv6(address);
  return v6 === null ? null : { family: 6, value: v6 };
}

function parseIpv4(text: string): bigint | null {
  const parts = text.split('.');
  if (parts.length !== 4) return null;
  let value = 0n;
  for (const part of parts) {
    if (!/^\d{1,3}$/.test(part) || Number(part) > 255) return null;
    value = (value << 8n) | BigInt(Number(part));
  }
  return value;
}

function parseIpv6(text: string): bigint | null {
  if (!/^[0-9a-f:.]+$/i.test(text) || text.split('::').length > 2) return null;
  const [head = '', tail] = text.split('::');
  const groupsOf = (part: string): number[] | null => {
    if (part === '') return [];
    const out: number[] = [];
    const pieces = part.split(':');
    for (const [index, piece] of pieces.entries()) {
      if (index === pieces.length - 1 && piece.includes('.')) {
        const v4 = parseIpv4(piece);
        if (v4 === null) return null;
        out.push(Number(v4 >> 16n), Number(v4 & 0xffffn));
      } else if (/^[0-9a-f]{1,4}$/i.test(piece)) out.push(parseInt(piece, 16));
      else return null;
    }
    return out;
  };
  const first = groupsOf(head);
  const last = tail === undefined ? [] : groupsOf(tail);
  if (!first || !last) return null;
  const missing = 8 - first.length - last.length;
  if (tail === undefined ? missing !== 0 : missing < 1) return null;
  const groups = [...first, ...Array<number>(tail === undefined ? 0 : missing).fill(0), ...last];
  return groups.reduce((value, group) => (value << 16n) | BigInt(group), 0n);
}

/** `10.1.0.0/16`, `2001:db8::/32`, or a bare address (a /32 or /128); null when malformed. */
export function parseCidr(text: string): Cidr | null {
  const [address = '', length, extra] = text.trim().split('/');
  if (extra !== undefined) return null;
  const ip = parseIp(address);
  if (!ip) return null;
  const bits = ip.family === 4 ? 32 : 128;
  if (length !== undefined && !/^\d{1,3}$/.test(length)) return null;
  const prefixLength = length === undefined ? bits : Number(length);
  if (prefixLength > bits) return null;
  return { family: ip.family, network: ip.value & mask(bits, prefixLength), prefixLength };
}

const mask = (bits: number, prefixLength: number): bigint =>
  ((1n << BigInt(bits)) - 1n) ^ ((1n << BigInt(bits - prefixLength)) - 1n);

/** CIDR → region lookups, longest prefix first. */
export class RegionMap {
  private readonly entries: { cidr: Cidr; region: string }[];

  constructor(entries: readonly { cidr: string; region: string }[]) {
    this.entries = entries
      .map((entry) => ({ cidr: parseCidr(entry.cidr), region: entry.region }))
      .filter((entry): entry is { cidr: Cidr; region: string } => entry.cidr !== null)
      .sort((a, b) => b.cidr.prefixLength - a.cidr.prefixLength);
  }

  /** The region of an address, or null when no range holds it (or it is not an address). */
  regionOf(address: string | undefined): string | null {
    if (!address || this.entries.length === 0) return null;
    const ip = parseIp(address);
    if (!ip) return null;
    const bits = ip.family === 4 ? 32 : 128;
    for (const { cidr, region } of this.entries) {
      if (cidr.family === ip.family && (ip.value & mask(bits, cidr.prefixLength)) === cidr.network) {
        return region;
      }
    }
    return null;
  }
}

export interface ClientFacts {
  /** The API key's home region. */
  keyRegion: string | null;
  /** The `x-edgefleet-region` header. */
  headerRegion: string | undefined;
  /** The client's address (socket, or the first `x-forwarded-for` entry behind a trusted proxy). */
  address: string | undefined;
}

export type RegionSource = 'key' | 'header' | 'address' | 'gateway' | 'none';

/** The client's region and what said so. */
export function resolveClientRegion(
  facts: ClientFacts,
  map: RegionMap,
  gatewayRegion: string | null,
): { region: string | null; source: RegionSource } {
  if (facts.keyRegion) return { region: facts.keyRegion, source: 'key' };
  const header = facts.headerRegion?.trim();
  if (header && header.length <= 128) return { region: header, source: 'header' };
  const byAddress = map.regionOf(facts.address);
  if (byAddress) return { region: byAddress, source: 'address' };
  if (gatewayRegion) return { region: gatewayRegion, source: 'gateway' };
  return { region: null, source: 'none' };
}
