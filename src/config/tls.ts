// TLS settings shared by the Kafka, Redis and schema-registry clients: the config shape and its
// translation into Node's tls options. A certificate or key is given inline (PEM text, usually
// through ${ENV}) or as the path of a PEM file; files are read when a client is built.
import { readFileSync } from 'node:fs';
import type { ConnectionOptions } from 'node:tls';
import { z } from 'zod';

export const tlsSchema = z.strictObject({
  ca: z
    .string()
    .min(1)
    .optional()
    .describe('CA bundle (PEM text or file path) to trust instead of the system roots; for private CAs.'),
  cert: z.string().min(1).optional().describe('Client certificate (PEM text or file path), for mutual TLS.'),
  key: z.string().min(1).optional().describe('Its private key (PEM text or file path).'),
  servername: z
    .string()
    .min(1)
    .optional()
    .describe('Host name to verify the server certificate against (SNI), when it differs from the address.'),
  rejectUnauthorized: z
    .boolean()
    .default(true)
    .describe('Refuse servers whose certificate does not verify. Turn off only for local experiments.'),
});

export type TlsConfig = z.output<typeof tlsSchema>;

/** PEM text as given, or the contents of the file it names. */
export function readPem(value: string): string {
  return value.includes('-----BEGIN ') ? value : readFileSync(value, 'utf8');
}

/** Node tls options for a TLS section (`true` means TLS with the system roots). */
export function tlsOptions(tls: TlsConfig | true): ConnectionOptions {
  if (tls === true) return {};
  return {
    ...(tls.ca ? { ca: readPem(tls.ca) } : {}),
    ...(tls.cert ? { cert: readPem(tls.cert) } : {}),
    ...(tls.key ? { key: readPem(tls.key) } : {}),
    ...(tls.servername ? { servername: tls.servername } : {}),
    rejectUnauthorized: tls.rejectUnauthorized,
  };
}
