// The undici dispatcher behind every outbound HTTP client (deliveries, token endpoints, readiness
// probes): a keep-alive connection pool with connect, header and body timeouts, the SSRF guard at
// connect time unless private addresses are allowed, and client TLS (mTLS) when given; through an
// egress proxy (CONNECT tunnels) when one applies (egress.ts). Behind a proxy the guard cannot see
// the address connected to: the caller checks the name first (proxiedTargetProblem).
import type { PeerCertificate, TLSSocket } from 'node:tls';
import { Agent, buildConnector, type Dispatcher, ProxyAgent } from 'undici';
import { guardedLookup } from './addressGuard.ts';
import { boundedProxyClient } from './proxyTunnel.ts';

/** What Courier keeps of a server's certificate. */
export interface ServerCertificate {
  /** When it expires (epoch ms). */
  notAfter: number;
  subject: string;
  issuer: string;
}

/** The server certificate of a TLS socket, or undefined when there is none (plain HTTP). */
export function serverCertificateOf(socket: unknown): ServerCertificate | undefined {
  const tls = socket as Partial<TLSSocket>;
  if (typeof tls.getPeerCertificate !== 'function') return undefined;
  const cert: PeerCertificate = tls.getPeerCertificate();
  if (!cert?.valid_to) return undefined;
  const name = (n: PeerCertificate['subject'] | undefined) =>
    n
      ? Object.entries(n)
          .map(([k, v]) => `${k}=${String(v)}`)
          .join(', ')
      : '';
  return { notAfter: Date.parse(cert.valid_to), subject: name(cert.subject), issuer: name(cert.issuer) };
}

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
  /** Called with the server's certificate after each TLS handshake (not through a proxy). */
  onServerCertificate?: (cert: ServerCertificate) => void;
}

export function createDispatcher(o: DispatcherOptions): Dispatcher {
  if (o.proxy) {
    // The proxy is the operator's own: reached whatever its address. The target's TLS (and mTLS)
    // runs inside the tunnel.
    // The CONNECT gets the connect budget (and a little less than the request's timeout, so that
    // the tunnel's refusal — a known outcome — is what the request sees, not its own timeout).
    const connectMs = Math.min(10_000, Math.max(1, Math.floor(o.timeoutMs * 0.9)));
    return new ProxyAgent({
      uri: o.proxy,
      clientFactory: boundedProxyClient(connectMs) as never,
      connections: o.connections,
      pipelining: 1,
      keepAliveTimeout: o.keepAliveTimeoutMs ?? 30_000,
      connectTimeout: Math.min(o.timeoutMs, 10_000),
      headersTimeout: o.timeoutMs,
      bodyTimeout: o.timeoutMs,
      ...(o.tls ? { requestTls: o.tls } : {}),
    });
  }
  const connectOptions = {
    ...(o.allowPrivateAddresses ? {} : { lookup: guardedLookup as never }),
    ...(o.tls ?? {}),
  };
  const observe = o.onServerCertificate;
  return new Agent({
    connections: o.connections,
    pipelining: 1,
    keepAliveTimeout: o.keepAliveTimeoutMs ?? 30_000,
    connectTimeout: Math.min(o.timeoutMs, 10_000),
    headersTimeout: o.timeoutMs,
    bodyTimeout: o.timeoutMs,
    connect: observe
      ? observingConnector(
          buildConnector({ ...connectOptions, timeout: Math.min(o.timeoutMs, 10_000) }),
          observe,
        )
      : connectOptions,
  });
}

/** A connector that reports each TLS handshake's server certificate (the handshakes deliveries make anyway). */
function observingConnector(
  connect: buildConnector.connector,
  observe: (cert: ServerCertificate) => void,
): buildConnector.connector {
  return (options, callback) =>
    connect(options, (err, socket) => {
      if (!err && socket) {
        try {
          const cert = serverCertificateOf(socket);
          if (cert) observe(cert);
        } catch {
          // Never let watching a certificate fail a delivery.
        }
      }
      (callback as (e: Error | null, s: typeof socket) => void)(err, socket);
    });
}
