// Pure: what an authentication failure of a delivery means (DESIGN §5, auth outcomes).
//   expired   — 401 with OAuth2: refresh the token once and send again at once
//   rejected  — 401 again with a fresh token, or 401 without OAuth2: pause `auth-rejected`
//   forbidden — 403: pause `forbidden` (permissions changed)
//   revoked   — the token endpoint refuses the client: pause `auth-revoked`
//   token-unavailable — the token endpoint cannot be reached: retry the delivery later, no pause
import type { TokenFailure, TokenFailureCode } from './tokenResponse.ts';

/** The auth case an attempt record names (AttemptRecord.auth). */
export type AuthCase = 'expired' | 'rejected' | 'forbidden' | 'revoked' | 'token-unavailable';

export type AuthPauseReason = 'auth-rejected' | 'forbidden' | 'auth-revoked';

export type AuthStep =
  | { action: 'refresh-and-resend' }
  | { action: 'pause'; reason: AuthPauseReason }
  | undefined;

/**
 * After a response: `undefined` when the status is no auth failure; otherwise refresh and send
 * again (only once, only with refreshable credentials) or pause.
 */
export function afterResponse(
  status: number | undefined,
  credentials: { refreshable: boolean },
  alreadyRefreshed: boolean,
): AuthStep {
  if (status === 403) return { action: 'pause', reason: 'forbidden' };
  if (status !== 401) return undefined;
  if (credentials.refreshable && !alreadyRefreshed) return { action: 'refresh-and-resend' };
  return { action: 'pause', reason: 'auth-rejected' };
}

/** The pause reason of an auth pause, by case. */
export function pauseReasonOf(authCase: AuthCase): AuthPauseReason | undefined {
  if (authCase === 'rejected') return 'auth-rejected';
  if (authCase === 'forbidden') return 'forbidden';
  if (authCase === 'revoked') return 'auth-revoked';
  return undefined;
}

/** Why a delivery paused on auth, and the case its attempt record names. */
export function authPause(
  status: number | undefined,
  authCase: AuthCase | undefined,
): { reason: AuthPauseReason; authCase: AuthCase } {
  if (authCase === 'revoked') return { reason: 'auth-revoked', authCase: 'revoked' };
  if (status === 403) return { reason: 'forbidden', authCase: 'forbidden' };
  return { reason: 'auth-rejected', authCase: 'rejected' };
}

/**
 * A token endpoint failure as the delivery core's send result and outcome: no request left for
 * the destination, so it is never ambiguous; `transient` retries the delivery later through the
 * normal retry path, `auth` pauses the destination (`auth-revoked`).
 */
export function tokenFailureOutcome(failure: TokenFailure): {
  result: { errorCode: TokenFailureCode; errorMessage: string; latencyMs: number };
  outcome: { kind: 'transient' | 'auth'; ambiguous: false };
  authCase: AuthCase;
} {
  return {
    result: { errorCode: failure.code, errorMessage: failure.message, latencyMs: 0 },
    outcome: { kind: failure.kind === 'transient' ? 'transient' : 'auth', ambiguous: false },
    authCase: failure.kind === 'transient' ? 'token-unavailable' : 'revoked',
  };
}
