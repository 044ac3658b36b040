// Kafka authentication: turns the `kafka.sasl` config into kafkajs' SASL options. For
// OAUTHBEARER that is a token provider: a static token, or the OAuth 2.0 client-credentials
// grant against a token endpoint, cached and fetched again before it expires. Secrets never
// appear in errors.
import type { SASLOptions } from 'kafkajs';
import type { CourierConfig } from '../config/schema.ts';
import { CourierError } from '../errors.ts';

type SaslConfig = NonNullable<CourierConfig['kafka']['sasl']>;
type OAuthConfig = Extract<SaslConfig, { mechanism: 'oauthbearer' }>;

export interface BearerToken {
  value: string;
  extensions?: Record<string, string>;
}

/**
 * When to fetch a token again: at 80% of its lifetime, and never later than a minute before it
 * expires (brokers drop connections whose token has expired). A token without `expires_in` is
 * refreshed after five minutes.
 */
export function refreshAt(obtainedAtMs: number, expiresInS: number | undefined): number {
  const lifetimeMs = (expiresInS ?? 300) * 1000;
  return obtainedAtMs + Math.max(0, Math.min(lifetimeMs * 0.8, lifetimeMs - 60_000));
}

async function fetchToken(o: OAuthConfig): Promise<{ token: string; expiresIn?: number }> {
  const body = new URLSearchParams({
    grant_type: 'client_credentials',
    ...(o.scope ? { scope: o.scope } : {}),
  });
  const basic = Buffer.from(
    `${encodeURIComponent(o.clientId ?? '')}:${encodeURIComponent(o.clientSecret ?? '')}`,
  ).toString('base64');
  let response: Response;
  try {
    response = await fetch(o.tokenUrl as string, {
      method: 'POST',
      headers: { authorization: `Basic ${basic}`, 'content-type': 'application/x-www-form-urlencoded' },
      body,
      signal: AbortSignal.timeout(10_000),
    });
  } catch (err) {
    throw new CourierError(
      'KAFKA_OAUTH_TOKEN',
      `token endpoint ${o.tokenUrl} unreachable: ${(err as Error).message}`,
      {
        retriable: true,
      },
    );
  }
  const text = await response.text();
  if (!response.ok) {
    throw new CourierError('KAFKA_OAUTH_TOKEN', `token endpoint ${o.tokenUrl} answered ${response.status}`, {
      retriable: response.status >= 500,
    });
  }
  let parsed: { access_token?: unknown; expires_in?: unknown };
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new CourierError('KAFKA_OAUTH_TOKEN', `token endpoint ${o.tokenUrl} answered non-JSON`);
  }
  if (typeof parsed.access_token !== 'string' || parsed.access_token === '') {
    throw new CourierError('KAFKA_OAUTH_TOKEN', `token endpoint ${o.tokenUrl} answered without access_token`);
  }
  const expiresIn = Number(parsed.expires_in);
  return {
    token: parsed.access_token,
    ...(Number.isFinite(expiresIn) && expiresIn > 0 ? { expiresIn } : {}),
  };
}

/** An OAUTHBEARER provider for kafkajs: one token shared by every connection until its refresh. */
export function oauthBearerProvider(
  o: OAuthConfig,
  now: () => number = Date.now,
): () => Promise<BearerToken> {
  const extensions = o.extensions ? { extensions: o.extensions } : {};
  if (o.token !== undefined) {
    const value = o.token;
    return async () => ({ value, ...extensions });
  }
  let cached: { value: string; refreshAt: number } | undefined;
  let pending: Promise<{ value: string; refreshAt: number }> | undefined;
  return async () => {
    if (cached && now() < cached.refreshAt) return { value: cached.value, ...extensions };
    pending ??= fetchToken(o)
      .then(({ token, expiresIn }) => {
        cached = { value: token, refreshAt: refreshAt(now(), expiresIn) };
        return cached;
      })
      .finally(() => {
        pending = undefined;
      });
    const fresh = await pending;
    return { value: fresh.value, ...extensions };
  };
}

/** kafkajs' SASL options for the config's `kafka.sasl`. */
export function saslOptions(sasl: SaslConfig): SASLOptions {
  if (sasl.mechanism === 'oauthbearer') {
    return { mechanism: 'oauthbearer', oauthBearerProvider: oauthBearerProvider(sasl) };
  }
  return { mechanism: sasl.mechanism, username: sasl.username, password: sasl.password };
}
