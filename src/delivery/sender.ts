// Sends one webhook: POST with Standard Webhooks headers through a pooled undici Agent per
// destination (keep-alive), a per-destination timeout, no redirects, the response body capped
// at 1 KiB, and an SSRF guard that checks every address at connect time (DNS rebinding too).
import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { BlockList, isIP } from 'node:net';
import { Agent, request } from 'undici';
import type { SendErrorCode, SendResult } from './outcome.ts';

export const SNIPPET_BYTES = 1024;

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

class ForbiddenAddressError extends Error {
  readonly code = 'ECOURIERFORBIDDEN';
}

type LookupCallback = (
  err: NodeJS.ErrnoException | null,
  address: string | LookupAddress[],
  family?: number,
) => void;

function guardedLookup(hostname: string, options: { all?: boolean }, callback: LookupCallback): void {
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

export interface SenderOptions {
  url: string;
  timeoutMs: number;
  connections: number;
  allowPrivateAddresses: boolean;
  userAgent: string;
}

export interface WebhookRequest {
  body: string | Buffer;
  headers: Record<string, string>;
}

function errorCode(err: unknown): { code: SendErrorCode; message: string } {
  const e = err as {
    code?: string;
    name?: string;
    message?: string;
    cause?: { code?: string; message?: string };
  };
  const code = e?.cause?.code ?? e?.code ?? '';
  const message = e?.cause?.message ?? e?.message ?? String(err);
  if (code === 'ECOURIERFORBIDDEN') return { code: 'FORBIDDEN_ADDRESS', message };
  if (code === 'UND_ERR_INVALID_ARG' || code === 'ERR_INVALID_CHAR' || code === 'ERR_INVALID_ARG_TYPE')
    return { code: 'INVALID_REQUEST', message };
  if (code === 'ECONNREFUSED') return { code: 'CONNECTION_REFUSED', message };
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN' || code === 'EAI_FAIL')
    return { code: 'DNS_FAILURE', message };
  if (code === 'UND_ERR_CONNECT_TIMEOUT') return { code: 'CONNECTION_REFUSED', message };
  if (
    e?.name === 'TimeoutError' ||
    e?.name === 'AbortError' ||
    code === 'UND_ERR_HEADERS_TIMEOUT' ||
    code === 'UND_ERR_BODY_TIMEOUT' ||
    code === 'ABORT_ERR'
  ) {
    return { code: 'TIMEOUT', message: 'no response within the timeout' };
  }
  if (code === 'ECONNRESET' || code === 'EPIPE' || code === 'UND_ERR_SOCKET' || code === 'UND_ERR_CLOSED') {
    return { code: 'CONNECTION_RESET', message };
  }
  if (
    code.startsWith('ERR_TLS') ||
    code.startsWith('ERR_SSL') ||
    code.includes('CERT') ||
    code === 'EPROTO'
  ) {
    return { code: 'TLS_FAILURE', message };
  }
  return { code: 'NETWORK_ERROR', message };
}

/** How long the first KiB of a response body may take once the status line has arrived. */
export const SNIPPET_TIMEOUT_MS = 1000;

type ResponseBody = AsyncIterable<Buffer> & { destroy(err?: Error): unknown };

/**
 * The first 1 KiB of a response body, best effort: the status line already decided the outcome,
 * so a body that drips, never ends or is cut off yields what arrived within its own short bound,
 * never an error. The rest of the body is discarded (the connection is closed if it is not done).
 */
async function readSnippet(body: ResponseBody, timeoutMs: number): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  let complete = false;
  let timer: NodeJS.Timeout | undefined;
  const reading = (async () => {
    for await (const chunk of body) {
      chunks.push(chunk);
      size += chunk.length;
      if (size >= SNIPPET_BYTES) return;
    }
    complete = true;
  })().catch(() => {});
  const timeout = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, timeoutMs);
  });
  await Promise.race([reading, timeout]);
  clearTimeout(timer);
  if (!complete) body.destroy();
  return Buffer.concat(chunks).subarray(0, SNIPPET_BYTES).toString('utf8');
}

export class WebhookSender {
  private readonly agent: Agent;
  private readonly options: SenderOptions;
  private readonly literalForbidden: boolean;

  constructor(options: SenderOptions) {
    this.options = options;
    const host = new URL(options.url).hostname.replace(/^\[|\]$/g, '');
    // An IP literal never goes through lookup, so it is checked here once.
    this.literalForbidden = !options.allowPrivateAddresses && isIP(host) !== 0 && isForbiddenAddress(host);
    this.agent = new Agent({
      connections: options.connections,
      pipelining: 1,
      keepAliveTimeout: 30_000,
      connectTimeout: Math.min(options.timeoutMs, 10_000),
      headersTimeout: options.timeoutMs,
      bodyTimeout: options.timeoutMs,
      connect: options.allowPrivateAddresses ? {} : { lookup: guardedLookup as never },
    });
  }

  async send(req: WebhookRequest): Promise<SendResult> {
    const started = performance.now();
    const latency = () => Math.round(performance.now() - started);
    if (this.literalForbidden) {
      return {
        errorCode: 'FORBIDDEN_ADDRESS',
        errorMessage: 'destination address is private or reserved',
        latencyMs: 0,
      };
    }
    try {
      const res = await request(this.options.url, {
        method: 'POST',
        dispatcher: this.agent,
        headers: {
          ...req.headers,
          'content-type': 'application/json',
          'user-agent': this.options.userAgent,
        },
        body: req.body,
        signal: AbortSignal.timeout(this.options.timeoutMs),
      });
      const snippet = await readSnippet(res.body as never, SNIPPET_TIMEOUT_MS);
      const retryAfter = res.headers['retry-after'];
      return {
        status: res.statusCode,
        snippet,
        latencyMs: latency(),
        ...(retryAfter === undefined
          ? {}
          : { retryAfter: Array.isArray(retryAfter) ? retryAfter[0] : retryAfter }),
      };
    } catch (err) {
      const { code, message } = errorCode(err);
      return { errorCode: code, errorMessage: message, latencyMs: latency() };
    }
  }

  /** A HEAD request: any HTTP answer means the destination is reachable. */
  async probe(): Promise<SendResult> {
    const started = performance.now();
    if (this.literalForbidden) return { errorCode: 'FORBIDDEN_ADDRESS', latencyMs: 0 };
    try {
      const res = await request(this.options.url, {
        method: 'HEAD',
        dispatcher: this.agent,
        headers: { 'user-agent': this.options.userAgent },
        signal: AbortSignal.timeout(this.options.timeoutMs),
      });
      await res.body.dump().catch(() => {});
      return { status: res.statusCode, latencyMs: Math.round(performance.now() - started) };
    } catch (err) {
      const { code, message } = errorCode(err);
      return { errorCode: code, errorMessage: message, latencyMs: Math.round(performance.now() - started) };
    }
  }

  async close(): Promise<void> {
    await this.agent.close().catch(() => {});
  }
}
