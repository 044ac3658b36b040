// A handshake-only look at a destination's HTTPS certificate, for when no delivery has made a
// handshake lately (an idle destination's certificate can expire unseen): connect, complete the
// TLS handshake with the destination's name, read the certificate, close. Nothing is sent. The SSRF
// guard applies as for deliveries. An expired or mismatched certificate still yields its dates
// (the point is to see them), so verification is not required for the look itself.
import { type ConnectionOptions, connect } from 'node:tls';
import { guardedLookup } from './addressGuard.ts';
import type { ClientTls, ServerCertificate } from './dispatcher.ts';
import { serverCertificateOf } from './dispatcher.ts';

export interface TlsProbeOptions {
  url: string;
  allowPrivateAddresses: boolean;
  timeoutMs: number;
  /** The destination's client certificate and CA (mTLS), if any. */
  tls?: ClientTls;
}

/** The certificate the destination presents, or undefined for a plain-HTTP URL or no handshake. */
export function probeServerCertificate(o: TlsProbeOptions): Promise<ServerCertificate | undefined> {
  const url = new URL(o.url);
  if (url.protocol !== 'https:') return Promise.resolve(undefined);
  const host = url.hostname.replace(/^\[|\]$/g, '');
  return new Promise((resolve) => {
    const options: ConnectionOptions = {
      host,
      port: Number(url.port || 443),
      rejectUnauthorized: false,
      ...(/^[\d.:]+$/.test(host) ? {} : { servername: host }),
      ...(o.allowPrivateAddresses ? {} : { lookup: guardedLookup as never }),
      ...(o.tls ?? {}),
    };
    const socket = connect(options);
    const done = (cert: ServerCertificate | undefined) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(cert);
    };
    const timer = setTimeout(() => done(undefined), o.timeoutMs);
    socket.once('secureConnect', () => done(serverCertificateOf(socket)));
    socket.once('error', () => done(undefined));
  });
}
