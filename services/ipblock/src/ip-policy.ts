import ipaddr from 'ipaddr.js';

/**
 * Block policy (pure, no I/O): which addresses may be blocked and their canonical form.
 * The canonical form is what Redis stores, what the API returns and what NGINX's geo block receives:
 * IPv4 dotted quad, IPv6 RFC 5952, a CIDR rewritten to its network address, a full-length prefix dropped.
 */

type Addr = ipaddr.IPv4 | ipaddr.IPv6;
export type Cidr = [Addr, number];

export interface PolicyOptions {
  /** Extra ranges that must never be blocked (the infrastructure's own networks, admin hosts). */
  protectedCidrs?: string[];
  /** Ranges that may be blocked although they overlap a refused range (tests, lab networks). */
  allowCidrs?: string[];
  /** Broadest prefix accepted; a wider block is almost certainly a mistake. */
  minPrefixV4?: number;
  minPrefixV6?: number;
}

/** Ranges whose blocking would lock out the stack itself (overlay networks, health checks, load balancers) or make no sense. */
export const REFUSED_RANGES: Record<string, string[]> = {
  unspecified: ['0.0.0.0/8', '::/128'],
  loopback: ['127.0.0.0/8', '::1/128'],
  private: ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', 'fc00::/7'],
  carrier_grade_nat: ['100.64.0.0/10'],
  link_local: ['169.254.0.0/16', 'fe80::/10'],
  multicast: ['224.0.0.0/4', 'ff00::/8'],
  broadcast: ['255.255.255.255/32'],
};

export class PolicyError extends Error {
  constructor(
    public readonly code: 'invalid_ip' | 'protected_range' | 'prefix_too_broad',
    message: string,
  ) {
    super(message);
    this.name = 'PolicyError';
  }
}

const DOTTED_QUAD = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

/** Parses `ip` or `ip/prefix` strictly: no zone ids, no shorthand IPv4 forms ("127.1", "0x7f.0.0.1"). */
export function parseCidr(input: string): Cidr {
  if (typeof input !== 'string' || input.length === 0 || input.length > 64) {
    throw new PolicyError('invalid_ip', 'ip must be an IPv4 or IPv6 address or CIDR, e.g. 203.0.113.7 or 2001:db8::/48');
  }
  const s = input.trim();
  const slash = s.indexOf('/');
  const addrPart = slash === -1 ? s : s.slice(0, slash);
  const prefixPart = slash === -1 ? undefined : s.slice(slash + 1);
  if (addrPart.includes('%')) throw new PolicyError('invalid_ip', `"${input}" has a zone id; give a plain address`);
  let addr: Addr;
  if (ipaddr.IPv4.isIPv4(addrPart)) {
    if (!DOTTED_QUAD.test(addrPart)) throw new PolicyError('invalid_ip', `"${input}" is not a valid IPv4 address (dotted quad expected)`);
    addr = ipaddr.IPv4.parse(addrPart);
  } else if (ipaddr.IPv6.isValid(addrPart)) {
    addr = ipaddr.IPv6.parse(addrPart);
  } else {
    throw new PolicyError('invalid_ip', `"${input}" is not a valid IPv4 or IPv6 address`);
  }
  let prefix = addr.kind() === 'ipv4' ? 32 : 128;
  if (prefixPart !== undefined) {
    if (!/^\d{1,3}$/.test(prefixPart) || Number(prefixPart) > prefix) {
      throw new PolicyError('invalid_ip', `"${input}" has an invalid prefix length (0-${prefix} expected)`);
    }
    prefix = Number(prefixPart);
  }
  // ::ffff:a.b.c.d is an IPv4 client as NGINX sees it on a dual-stack socket: block the IPv4 address
  if (addr.kind() === 'ipv6' && (addr as ipaddr.IPv6).isIPv4MappedAddress() && prefix >= 96) {
    return [(addr as ipaddr.IPv6).toIPv4Address(), prefix - 96];
  }
  return [networkOf(addr, prefix), prefix];
}

function networkOf(addr: Addr, prefix: number): Addr {
  const bytes = addr.toByteArray();
  for (let i = 0; i < bytes.length; i++) {
    const bitsHere = Math.max(0, Math.min(8, prefix - i * 8));
    bytes[i] &= bitsHere === 0 ? 0 : (0xff << (8 - bitsHere)) & 0xff;
  }
  return ipaddr.fromByteArray(bytes);
}

export function formatCidr([addr, prefix]: Cidr): string {
  const full = addr.kind() === 'ipv4' ? 32 : 128;
  const a = addr.kind() === 'ipv4' ? addr.toString() : (addr as ipaddr.IPv6).toRFC5952String();
  return prefix === full ? a : `${a}/${prefix}`;
}

/** Canonical form of an address or CIDR, or a PolicyError('invalid_ip'). */
export function canonicalize(input: string): string {
  return formatCidr(parseCidr(input));
}

/** Whether two ranges share at least one address. */
export function overlaps(a: Cidr, b: Cidr): boolean {
  if (a[0].kind() !== b[0].kind()) return false;
  return a[0].match(b[0] as never, Math.min(a[1], b[1]));
}

/** `inner` lies entirely inside `outer`. */
export function contains(outer: Cidr, inner: Cidr): boolean {
  return outer[0].kind() === inner[0].kind() && inner[1] >= outer[1] && inner[0].match(outer[0] as never, outer[1]);
}

export class BlockPolicy {
  private readonly refused: Array<{ name: string; cidr: Cidr; text: string }>;
  private readonly allowed: Cidr[];
  private readonly minPrefixV4: number;
  private readonly minPrefixV6: number;

  constructor(opts: PolicyOptions = {}) {
    this.refused = [
      ...Object.entries(REFUSED_RANGES).flatMap(([name, list]) => list.map((text) => ({ name, cidr: parseCidr(text), text }))),
      ...(opts.protectedCidrs ?? []).map((text) => ({ name: 'infrastructure', cidr: parseCidr(text), text })),
    ];
    this.allowed = (opts.allowCidrs ?? []).map(parseCidr);
    this.minPrefixV4 = opts.minPrefixV4 ?? 16;
    this.minPrefixV6 = opts.minPrefixV6 ?? 32;
  }

  /** The canonical range to block, or a PolicyError naming the problem. */
  check(input: string): string {
    const cidr = parseCidr(input);
    const text = formatCidr(cidr);
    const min = cidr[0].kind() === 'ipv4' ? this.minPrefixV4 : this.minPrefixV6;
    if (cidr[1] < min) {
      throw new PolicyError('prefix_too_broad', `"${text}" is broader than /${min}; block smaller ranges`);
    }
    if (this.allowed.some((a) => contains(a, cidr))) return text;
    const hit = this.refused.find((r) => overlaps(r.cidr, cidr));
    if (hit) {
      throw new PolicyError(
        'protected_range',
        `"${text}" overlaps ${hit.text} (${hit.name.replace(/_/g, ' ')}); blocking it could lock out the infrastructure`,
      );
    }
    return text;
  }
}
