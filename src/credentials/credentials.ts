// Destination credentials: the stage beneath delivery that the delivery core calls before every
// request (`authorize()`), after a 401 (`authorize({ forceRefresh })`), when it builds the
// destination's HTTP client (`tls`) and for credential health (`expiry()`).
// Implementations: OAuth2 client credentials (./oauth2.ts), Basic, mTLS, and none.
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { AuthConfig, DestinationConfig } from '../config/schema.ts';
import { CourierError } from '../errors.ts';
import type { CourierRedis } from '../redis/client.ts';
import type { Logger } from '../telemetry/logger.ts';
import type { CredentialExpiry } from './expiry.ts';
import { OAuth2Credentials } from './oauth2.ts';
import { TokenEndpoint } from './tokenEndpoint.ts';
import type { AuthorizeResult, DestinationCredentials } from './types.ts';

export type { AuthorizeOptions, AuthorizeResult, DestinationCredentials } from './types.ts';

/** A credential Courier cannot use (unreadable file, not a certificate, key and certificate differ). */
export class CredentialError extends CourierError {
  constructor(message: string, cause?: unknown) {
    super('CREDENTIAL_INVALID', message, cause === undefined ? {} : { cause: stripCause(cause) });
  }
}

/** Keeps only the code of an underlying error: its message could quote what it failed to parse. */
function stripCause(cause: unknown): { code?: string } {
  const code = (cause as { code?: unknown })?.code;
  return typeof code === 'string' ? { code } : {};
}

export class NoCredentials implements DestinationCredentials {
  readonly refreshable = false;
  async authorize(): Promise<AuthorizeResult> {
    return { ok: true, headers: {} };
  }
  async expiry(): Promise<CredentialExpiry[]> {
    return [];
  }
  async close(): Promise<void> {}
}

export class BasicCredentials implements DestinationCredentials {
  readonly refreshable = false;
  private readonly header: string;
  constructor(options: { username: string; password: string }) {
    this.header = `Basic ${Buffer.from(`${options.username}:${options.password}`, 'utf8').toString('base64')}`;
  }
  async authorize(): Promise<AuthorizeResult> {
    return { ok: true, headers: { authorization: this.header } };
  }
  async expiry(): Promise<CredentialExpiry[]> {
    return [];
  }
  async close(): Promise<void> {}
}

/** PEM text as given, or the content of the file the value names. */
export function readPem(value: string, what: string): string {
  if (value.trimStart().startsWith('-----BEGIN')) return value;
  try {
    return readFileSync(value, 'utf8');
  } catch (err) {
    throw new CredentialError(`${what}: cannot read the file ${value}`, err);
  }
}

/** The notAfter of a PEM certificate (the first one of a chain), epoch ms. */
export function certificateNotAfter(pem: string, what: string): number {
  try {
    return new X509Certificate(pem).validToDate.getTime();
  } catch (err) {
    throw new CredentialError(`${what}: not a PEM certificate`, err);
  }
}

export class MtlsCredentials implements DestinationCredentials {
  readonly refreshable = false;
  readonly tls: { cert: string; key: string; ca?: string };
  private readonly notAfter: number;

  constructor(options: { cert: string; key: string; ca?: string; what: string }) {
    const cert = readPem(options.cert, `${options.what}.cert`);
    const key = readPem(options.key, `${options.what}.key`);
    const ca = options.ca === undefined ? undefined : readPem(options.ca, `${options.what}.ca`);
    this.notAfter = certificateNotAfter(cert, `${options.what}.cert`);
    let matches: boolean;
    try {
      matches = new X509Certificate(cert).checkPrivateKey(createPrivateKey(key));
    } catch (err) {
      throw new CredentialError(`${options.what}.key: not a PEM private key`, err);
    }
    if (!matches) throw new CredentialError(`${options.what}: the key does not belong to the certificate`);
    this.tls = { cert, key, ...(ca === undefined ? {} : { ca }) };
  }

  async authorize(): Promise<AuthorizeResult> {
    return { ok: true, headers: {} };
  }
  async expiry(): Promise<CredentialExpiry[]> {
    return [{ kind: 'client-certificate', expiresAt: this.notAfter }];
  }
  async close(): Promise<void> {}
}

export interface CreateCredentialsOptions {
  destination: DestinationConfig;
  redis: CourierRedis;
  /** The Redis key prefix (the topic prefix). */
  keyPrefix: string;
  allowPrivateAddresses: boolean;
  userAgent: string;
  /** The egress proxy of the token endpoint, if one applies. */
  tokenProxy?: string;
  logger?: Logger;
  now?: () => number;
}

/**
 * The credentials of one destination, from its `auth`; fails at start if unusable. (The
 * configured `secretsExpireAt` is the credential monitor's: a reload changes it in place.)
 */
export function createCredentials(options: CreateCredentialsOptions): DestinationCredentials {
  return fromAuth(options.destination.auth, options);
}

function fromAuth(auth: AuthConfig | undefined, o: CreateCredentialsOptions): DestinationCredentials {
  const what = `destinations.${o.destination.id}.auth`;
  if (!auth) return new NoCredentials();
  switch (auth.type) {
    case 'basic':
      return new BasicCredentials(auth);
    case 'mtls':
      return new MtlsCredentials({ ...auth, what });
    case 'oauth2':
      return new OAuth2Credentials({
        destination: o.destination.id,
        redis: o.redis,
        keyPrefix: o.keyPrefix,
        refreshBeforeMs: auth.refreshBeforeMs,
        lockMs: auth.timeoutMs + 5_000,
        ...(o.logger
          ? { logger: o.logger.child({ component: 'credentials', destination: o.destination.id }) }
          : {}),
        ...(o.now ? { now: o.now } : {}),
        endpoint: new TokenEndpoint({
          tokenUrl: auth.tokenUrl,
          clientId: auth.clientId,
          clientSecret: auth.clientSecret,
          authMethod: auth.authMethod,
          ...(auth.scope ? { scope: auth.scope } : {}),
          ...(auth.audience ? { audience: auth.audience } : {}),
          timeoutMs: auth.timeoutMs,
          allowPrivateAddresses: o.allowPrivateAddresses,
          userAgent: o.userAgent,
          ...(o.tokenProxy ? { proxy: o.tokenProxy } : {}),
          ...(o.now ? { now: o.now } : {}),
        }),
      });
  }
}

/** The client TLS options of a destination (mTLS), for any other HTTP client of it (e.g. replay's probe). */
export function destinationTls(destination: DestinationConfig): DestinationCredentials['tls'] {
  const auth = destination.auth;
  if (auth?.type !== 'mtls') return undefined;
  return new MtlsCredentials({ ...auth, what: `destinations.${destination.id}.auth` }).tls;
}
