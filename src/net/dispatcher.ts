// The undici dispatcher behind every outbound HTTP client (deliveries, token endpoints, readiness
// probes): a keep-alive connection pool with connect, header and body timeouts, the SSRF guard at
// connect time unless private addresses are allowed, and client TLS (mTLS) when given; through an
// egress proxy (CONNECT tunnels) when one applies (egress.ts). Behind a proxy the guard cannot see
// the address connected to: the caller checks the name first (proxiedTargetProblem).
import { Agent, type Dispatcher, ProxyAgent } from 'undici';
import { guardedLookup } from './addressGuard.ts';

export interface ClientTls {
  cert: string;
  key: string;
  /** Replaces the default CA bundle for this client. */
  ca?: string;
}

export interface DispatcherOptions {
  allowPrivateAddresses: boolean;
  connections: number;
  /** Bounds the connect (at most 10 s), the headers and each body read. */
  timeoutMs: number;
  keepAliveTimeoutMs?: number;
  tls?: ClientTls;
  /** An egress proxy URL (http://host:port, credentials allowed). */
  proxy?: string;
}

export function createDispatcher(o: DispatcherOptions): Dispatcher {
  if (o.proxy) {
    // The proxy is the operator's own: reached whatever its address. The target's TLS (and mTLS)
    // runs inside the tunnel.
    return new ProxyAgent({
      uri: o.proxy,
      connections: o.connections,
      pipelining: 1,
      keepAliveTimeout: o.keepAliveTimeoutMs ?? 30_000,
      connectTimeout: Math.min(o.timeoutMs, 10_000),
      headersTimeout: o.timeoutMs,
      bodyTimeout: o.timeoutMs,
      ...(o.tls ? { requestTls: o.tls } : {}),
    });
  }
  return new Agent({
    connections: o.connections,
    pipelining: 1,
    keepAliveTimeout: o.keepAliveTimeoutMs ?? 30_000,
    connectTimeout: Math.min(o.timeoutMs, 10_000),
    headersTimeout: o.timeoutMs,
    bodyTimeout: o.timeoutMs,
    connect: {
      ...(o.allowPrivateAddresses ? {} : { lookup: guardedLookup as never }),
      ...(o.tls ?? {}),
    },
  });
}
