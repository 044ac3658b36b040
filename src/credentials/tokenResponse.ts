// Pure parts of the OAuth2 client-credentials grant (RFC 6749 §4.4, §5.1, §5.2): building the
// token request, reading the token response, classifying the token endpoint's failures
// (transient: try the delivery again later · revoked: a human must act) and when to refresh.
// Nothing here ever puts a secret or a token into a message.
import { type TokenFailureCode, tokenFailureRevokes } from '../policy/failures.ts';

/**
 * Why no access token could be had. What each code means for the delivery (retry later, or pause
 * `auth-revoked`) is the failure map's (../policy/failures.ts); `kind` is read from it.
 */
export type TokenFailure = {
  ok: false;
  kind: 'transient' | 'revoked';
  code: TokenFailureCode;
  message: string;
};

export type { TokenFailureCode };

/** A token failure with its kind from the failure map. */
export function tokenFailure(code: TokenFailureCode, message: string): TokenFailure {
  return { ok: false, kind: tokenFailureRevokes(code) ? 'revoked' : 'transient', code, message };
}

export interface Token {
  accessToken: string;
  /** Epoch ms when it was issued (received) and when it expires. */
  fetchedAt: number;
  expiresAt: number;
}

export type TokenResult = ({ ok: true } & Token) | TokenFailure;

/** Used when a token response carries no `expires_in` (RFC 6749 makes it RECOMMENDED only). */
export const DEFAULT_TOKEN_LIFETIME_MS = 3_600_000;

const REVOKED_ERRORS = new Set(['invalid_client', 'unauthorized_client', 'invalid_grant', 'invalid_scope']);

export interface TokenRequestInput {
  clientId: string;
  clientSecret: string;
  scope?: string;
  audience?: string;
  authMethod: 'client_secret_basic' | 'client_secret_post';
}

/** The form body and headers of a client-credentials token request (§4.4.2, §2.3.1). */
export function tokenRequest(input: TokenRequestInput): { body: string; headers: Record<string, string> } {
  const form = new URLSearchParams({ grant_type: 'client_credentials' });
  if (input.scope) form.set('scope', input.scope);
  if (input.audience) form.set('audience', input.audience);
  const headers: Record<string, string> = {
    'content-type': 'application/x-www-form-urlencoded',
    accept: 'application/json',
  };
  if (input.authMethod === 'client_secret_post') {
    form.set('client_id', input.clientId);
    form.set('client_secret', input.clientSecret);
  } else {
    // §2.3.1: id and secret are form-urlencoded before they are joined and base64-encoded.
    const encode = (s: string) => new URLSearchParams({ s }).toString().slice(2);
    const pair = `${encode(input.clientId)}:${encode(input.clientSecret)}`;
    headers.authorization = `Basic ${Buffer.from(pair, 'utf8').toString('base64')}`;
  }
  return { body: form.toString(), headers };
}

function parseJson(body: string): Record<string, unknown> | undefined {
  try {
    const value = JSON.parse(body) as unknown;
    return value !== null && typeof value === 'object' && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

/** An RFC 6749 error code is a short ASCII token; anything else is not repeated in a message. */
function safeErrorCode(value: unknown): string | undefined {
  return typeof value === 'string' && /^[\x20-\x21\x23-\x5b\x5d-\x7e]{1,64}$/.test(value) ? value : undefined;
}

/** Reads a token endpoint's answer (status and body) into a token or a classified failure. */
export function parseTokenResponse(status: number, body: string, now: number): TokenResult {
  const json = parseJson(body);
  if (status >= 200 && status < 300) {
    const accessToken = json?.access_token;
    const tokenType = json?.token_type;
    if (typeof accessToken !== 'string' || accessToken === '' || /[\r\n]/.test(accessToken)) {
      return unavailable(`token endpoint answered ${status} without a usable access_token`);
    }
    if (typeof tokenType === 'string' && tokenType.toLowerCase() !== 'bearer') {
      return tokenFailure(
        'TOKEN_REQUEST_REJECTED',
        `token endpoint issued a token of type "${safeErrorCode(tokenType) ?? '?'}", not bearer`,
      );
    }
    const expiresIn = Number(json?.expires_in);
    const lifetimeMs =
      Number.isFinite(expiresIn) && expiresIn > 0 ? Math.round(expiresIn * 1000) : DEFAULT_TOKEN_LIFETIME_MS;
    return { ok: true, accessToken, fetchedAt: now, expiresAt: now + lifetimeMs };
  }
  if (status >= 500 || status === 429 || status === 408) {
    return unavailable(`token endpoint answered ${status}`);
  }
  const error = safeErrorCode(json?.error);
  if ((status === 400 || status === 401) && error && REVOKED_ERRORS.has(error)) {
    return tokenFailure('AUTH_REVOKED', `token endpoint answered ${status} ${error}`);
  }
  return tokenFailure(
    'TOKEN_REQUEST_REJECTED',
    `token endpoint answered ${status}${error ? ` ${error}` : ''}`,
  );
}

/** A network-level failure to reach the token endpoint (no HTTP answer). */
export function tokenNetworkFailure(errorCode: string, forbiddenAddress: boolean): TokenFailure {
  if (forbiddenAddress) {
    return tokenFailure('TOKEN_URL_FORBIDDEN', 'token URL resolves to a private or reserved address');
  }
  return unavailable(`token endpoint unreachable (${errorCode})`);
}

function unavailable(message: string): TokenFailure {
  return tokenFailure('TOKEN_ENDPOINT_UNAVAILABLE', message);
}

/**
 * When a token should be replaced: `refreshBeforeMs` ahead of its expiry, but never before half of
 * its lifetime has passed (a token valid for 2 s is not refreshed on every use).
 */
export function refreshAt(token: Pick<Token, 'fetchedAt' | 'expiresAt'>, refreshBeforeMs: number): number {
  const lifetime = Math.max(0, token.expiresAt - token.fetchedAt);
  return token.expiresAt - Math.min(refreshBeforeMs, lifetime / 2);
}

/** Usable for a request sent now (a little margin for the request's own travel time). */
export function isUsable(token: Pick<Token, 'expiresAt'>, now: number, marginMs = 1000): boolean {
  return token.expiresAt - marginMs > now;
}
