// The SSRF guard every outbound HTTP client of Courier shares (deliveries, token endpoints,
// readiness probes): loopback, private, link-local (cloud metadata), CGNAT, multicast and reserved
// addresses are refused at connect time, on every connection, so DNS rebinding does not get
// through; an IP literal in a URL is checked once up front.
import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { BlockList, isIP } from 'node:net';

const blocked = new BlockList();
for (const [net, prefix] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
] as const) {
  blocked.addSubnet(net, prefix, 'ipv4');
}
for (const [net, prefix] of [
  ['::', 128],
  ['::1', 128],
  ['64:ff9b:1::', 48], // local-use NAT64 (RFC 8215): whatever it translates to is local
  ['100::', 64], // discard-only
  ['fc00::', 7],
  ['fe80::', 10],
  ['ff00::', 8],
] as const) {
  blocked.addSubnet(net, prefix, 'ipv6');
}

/** The eight 16-bit groups of an IPv6 address (a trailing dotted IPv4 part becomes two). */
function ipv6Groups(address: string): number[] {
  let text = address.toLowerCase().replace(/%.*$/, '');
  const dotted = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (dotted) {
    const [a, b, c, d] = dotted.slice(1).map(Number) as [number, number, number, number];
    text = `${text.slice(0, dotted.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head = '', tail] = text.split('::');
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const zeros = tail === undefined ? [] : Array(8 - left.length - right.length).fill('0');
  return [...left, ...zeros, ...right].map((g) => Number.parseInt(g, 16));
}

/**
 * The IPv4 address an IPv6 address carries, for the forms that reach an IPv4 host: mapped
 * (::ffff:0:0/96), IPv4-compatible (::/96), NAT64 (64:ff9b::/96) and 6to4 (2002::/16).
 */
function embeddedIPv4(address: string): string | undefined {
  const g = ipv6Groups(address);
  const v4 = (hi: number, lo: number) => `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
  const zeroPrefix = (n: number) => g.slice(0, n).every((x) => x === 0);
  if (zeroPrefix(5) && g[5] === 0xffff) return v4(g[6] as number, g[7] as number);
  if (zeroPrefix(6) && ((g[6] as number) !== 0 || (g[7] as number) > 1))
    return v4(g[6] as number, g[7] as number);
  if (g[0] === 0x64 && g[1] === 0xff9b && g.slice(2, 6).every((x) => x === 0)) {
    return v4(g[6] as number, g[7] as number);
  }
  if (g[0] === 0x2002) return v4(g[1] as number, g[2] as number);
  return undefined;
}

/**
 * Loopback, private, link-local (cloud metadata), CGNAT, multicast and reserved addresses,
 * including IPv6 forms that carry one of those IPv4 addresses.
 */
export function isForbiddenAddress(address: string): boolean {
  const family = isIP(address);
  if (family === 4) return blocked.check(address, 'ipv4');
  if (family === 6) {
    const v4 = embeddedIPv4(address);
    if (v4 !== undefined && blocked.check(v4, 'ipv4')) return true;
    return blocked.check(address, 'ipv6');
  }
  return true;
}

/** The code `errorCode()` maps to FORBIDDEN_ADDRESS. */
export const FORBIDDEN_ADDRESS_CODE = 'ECOURIERFORBIDDEN';

class ForbiddenAddressError extends Error {
  readonly code = FORBIDDEN_ADDRESS_CODE;
}

type LookupCallback = (
  err: NodeJS.ErrnoException | null,
  address: string | LookupAddress[],
  family?: number,
) => void;

export function guardedLookup(hostname: string, options: { all?: boolean }, callback: LookupCallback): void {
  dnsLookup(hostname, { ...options, all: true }, (err, addresses) => {
    if (err) return callback(err, []);
    const bad = addresses.find((a) => isForbiddenAddress(a.address));
    if (bad) {
      return callback(
        new ForbiddenAddressError(`${hostname} resolves to ${bad.address}, a private or reserved address`),
        [],
      );
    }
    if (options.all) return callback(null, addresses);
    const first = addresses[0] as LookupAddress;
    callback(null, first.address, first.family);
  });
}

/** Whether a URL names a forbidden IP literal (a host name is checked at connect time instead). */
export function literalAddressForbidden(url: string, allowPrivateAddresses: boolean): boolean {
  if (allowPrivateAddresses) return false;
  const host = new URL(url).hostname.replace(/^\[|\]$/g, '');
  return isIP(host) !== 0 && isForbiddenAddress(host);
}

const checked = new Map<string, { at: number; problem: string | undefined }>();

/**
 * For a request that goes through a proxy (which resolves the name itself): whether the name
 * resolves only to public addresses, checked before the proxy is asked to connect. Answers are
 * kept 10 s. The proxy resolves again, so this cannot stop a DNS server that answers the proxy
 * differently: a proxy should refuse private ranges too.
 */
export async function proxiedTargetProblem(hostname: string, now = Date.now()): Promise<string | undefined> {
  const host = hostname.replace(/^\[|\]$/g, '');
  if (isIP(host) !== 0)
    return isForbiddenAddress(host) ? `${host} is a private or reserved address` : undefined;
  const cached = checked.get(host);
  if (cached && now - cached.at < 10_000) return cached.problem;
  const problem = await new Promise<string | undefined>((resolve) => {
    guardedLookup(host, { all: true }, (err) => {
      if (err && (err as NodeJS.ErrnoException).code === FORBIDDEN_ADDRESS_CODE) resolve(err.message);
      else resolve(undefined); // a name that does not resolve is the proxy's to report
    });
  });
  checked.set(host, { at: now, problem });
  return problem;
}
