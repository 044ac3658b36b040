// Certificates for the mTLS tests, made with openssl into a temp dir: a CA, a server certificate
// for 127.0.0.1, client certificates signed by the CA (with a chosen lifetime) and one signed by
// an unrelated CA. And an HTTPS receiver that requires a client certificate from the CA.
import { execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface Pki {
  dir: string;
  /** Paths of PEM files. */
  ca: { cert: string; key: string };
  server: { cert: string; key: string };
  client(name: string, days: number, signer?: { cert: string; key: string }): { cert: string; key: string };
  /** A server certificate for 127.0.0.1 valid for `days`. */
  serverFor(name: string, days: number): { cert: string; key: string };
  otherCa: { cert: string; key: string };
}

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: 'ignore' });
}

const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

function makeCa(dir: string, name: string): { cert: string; key: string } {
  const cert = join(dir, `${name}.crt`);
  const key = join(dir, `${name}.key`);
  openssl(['req', '-x509', ...EC, '-keyout', key, '-out', cert, '-days', '30', '-subj', `/CN=${name}`], dir);
  return { cert, key };
}

function makeLeaf(
  dir: string,
  name: string,
  days: number,
  signer: { cert: string; key: string },
  ext: string,
): { cert: string; key: string } {
  const cert = join(dir, `${name}.crt`);
  const key = join(dir, `${name}.key`);
  const csr = join(dir, `${name}.csr`);
  const extFile = join(dir, `${name}.ext`);
  writeFileSync(extFile, ext);
  openssl(['req', ...EC, '-keyout', key, '-out', csr, '-subj', `/CN=${name}`], dir);
  openssl(
    [
      'x509',
      '-req',
      '-in',
      csr,
      '-CA',
      signer.cert,
      '-CAkey',
      signer.key,
      '-CAcreateserial',
      '-out',
      cert,
      '-days',
      String(days),
      '-extfile',
      extFile,
    ],
    dir,
  );
  return { cert, key };
}

export function makePki(): Pki {
  const dir = mkdtempSync(join(tmpdir(), 'courier-pki-'));
  const ca = makeCa(dir, 'test-ca');
  const otherCa = makeCa(dir, 'other-ca');
  const server = makeLeaf(
    dir,
    'server',
    30,
    ca,
    'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n',
  );
  return {
    dir,
    ca,
    server,
    otherCa,
    client: (name, days, signer = ca) => makeLeaf(dir, name, days, signer, 'extendedKeyUsage=clientAuth\n'),
    serverFor: (name, days) =>
      makeLeaf(dir, name, days, ca, 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n'),
  };
}

export interface TlsReceiver {
  url: string;
  /** webhook-ids accepted, with the client certificate's subject CN. */
  accepted: Array<{ id: string; client: string }>;
  close(): Promise<void>;
}

/** An HTTPS receiver that completes the handshake only with a client certificate from `pki.ca`. */
export async function startTlsReceiver(
  pki: Pki,
  options: { maxVersion?: 'TLSv1.2' | 'TLSv1.3'; server?: { cert: string; key: string } } = {},
): Promise<TlsReceiver> {
  const accepted: TlsReceiver['accepted'] = [];
  const server: Server = createServer(
    {
      cert: readFileSync((options.server ?? pki.server).cert),
      key: readFileSync((options.server ?? pki.server).key),
      ca: readFileSync(pki.ca.cert),
      requestCert: true,
      rejectUnauthorized: true,
      ...(options.maxVersion ? { maxVersion: options.maxVersion } : {}),
    },
    (req, res) => {
      req.resume();
      req.on('end', () => {
        if (req.method === 'POST') {
          const peer = (req.socket as import('node:tls').TLSSocket).getPeerCertificate();
          accepted.push({ id: String(req.headers['webhook-id']), client: String(peer.subject?.CN ?? '') });
        }
        res.writeHead(200);
        res.end();
      });
    },
  );
  server.on('tlsClientError', () => {});
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  return {
    url: `https://127.0.0.1:${port}/hook`,
    accepted,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
