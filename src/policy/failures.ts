// What every failure means, in one place: how an HTTP answer, a network error or a
// token endpoint's answer is classified, and what each class leads to — deliver, retry, dead-letter
// with a class, or pause the destination with a reason (and who must act on it). decide(), the
// gate, the attempt records, the alerts, the metrics and the status view all read these tables;
// every union type below exists only here. Adding a failure class is one entry plus its tests.
// Pure.
import { ruleFor, type StatusRules } from './statusRules.ts';

/** Why a destination is paused until resumed. */
export const PAUSE_REASONS = {
  operator: { needsOwner: false, summary: 'paused by an operator (courier pause)' },
  'auth-rejected': {
    needsOwner: true,
    authCase: 'rejected',
    summary: '401: the credentials were refused (after one token refresh for OAuth2)',
  },
  forbidden: { needsOwner: true, authCase: 'forbidden', summary: '403: the credentials lack permission' },
  'auth-revoked': {
    needsOwner: true,
    authCase: 'revoked',
    summary: 'the OAuth2 token endpoint refused the client (invalid_client, invalid_grant, …)',
  },
  gone: { needsOwner: true, summary: '410 Gone: the receiver asked for the endpoint to be disabled' },
} as const satisfies Record<string, { needsOwner: boolean; authCase?: string; summary: string }>;

export type PauseReason = keyof typeof PAUSE_REASONS;

/** A pause reason as read back from shared state; older versions wrote `auth` for 401 and 403. */
export function pauseReasonOf(stored: string): PauseReason | undefined {
  if (stored === 'auth') return 'auth-rejected';
  return Object.hasOwn(PAUSE_REASONS, stored) ? (stored as PauseReason) : undefined;
}

/** Whether a pause waits for the destination's owner (credentials, an endpoint gone): alert them. */
export function pauseNeedsOwner(reason: string): boolean {
  const known = pauseReasonOf(reason);
  return known !== undefined && PAUSE_REASONS[known].needsOwner;
}

/** The DLQ classes (header `courier-error-class`), with what each means. */
export const DEAD_LETTER_CLASSES = {
  permanent: 'the destination refused the event (a 4xx other than 401, 403, 408, 410, 425, 429)',
  redirect: 'a 3xx answer: redirects are not followed',
  'too-large':
    "413, a transform output or header value over the destination's expressionLimits, or a record over its topic limit",
  forbidden: 'the destination resolves to a private or reserved address (SSRF guard)',
  'invalid-request': 'the request could not be built (nothing left the machine)',
  exhausted: 'the retry budget (attempts or age) is spent',
  'transform-failed':
    "the destination's expressions could not handle the event: an error, or a limit (CPU time, memory) they broke",
  'held-too-long':
    'held (paused destination, open circuit) until a share of its topic retention: moved here before Kafka would delete it',
  'crash-loop':
    'the process handling it died three times while it was in hand: moved aside so the partition moves on',
} as const;

export type DeadLetterClass = keyof typeof DEAD_LETTER_CLASSES;

/** The authentication case an attempt record names (`authCase`). */
export type AuthCase = 'expired' | 'rejected' | 'forbidden' | 'revoked' | 'token-unavailable';

/**
 * Why a send produced no HTTP response, and what that means. `ambiguous`: the receiver may have
 * processed the request although no answer came back (a timeout, a reset), so a retry may be a
 * duplicate; never for a failure where no request left the machine.
 */
export const SEND_ERRORS = {
  TIMEOUT: { kind: 'transient', ambiguous: true },
  CONNECTION_REFUSED: { kind: 'transient', ambiguous: false },
  CONNECTION_RESET: { kind: 'transient', ambiguous: true },
  DNS_FAILURE: { kind: 'transient', ambiguous: false },
  TLS_FAILURE: { kind: 'transient', ambiguous: false },
  NETWORK_ERROR: { kind: 'transient', ambiguous: true },
  /** The egress proxy did not answer CONNECT within the timeout: nothing reached the destination. */
  PROXY_TIMEOUT: { kind: 'transient', ambiguous: false },
  FORBIDDEN_ADDRESS: { kind: 'permanent', errorClass: 'forbidden' },
  /** The request could not be built (e.g. a header value undici refuses): nothing was sent. */
  INVALID_REQUEST: { kind: 'permanent', errorClass: 'invalid-request' },
  // The destination's OAuth2 token endpoint failed: no request was sent to the destination.
  /** Unreachable, timeout, 5xx, 429, a response that is not a token: retry the delivery later. */
  TOKEN_ENDPOINT_UNAVAILABLE: { kind: 'transient', ambiguous: false },
  /** invalid_client · unauthorized_client · invalid_grant · invalid_scope: the grant is gone. */
  AUTH_REVOKED: { kind: 'pause', reason: 'auth-revoked' },
  /** Any other refusal (another 4xx, an RFC error such as invalid_request): a configuration error. */
  TOKEN_REQUEST_REJECTED: { kind: 'pause', reason: 'auth-revoked' },
  /** The token URL resolves to a private or reserved address and those are not allowed. */
  TOKEN_URL_FORBIDDEN: { kind: 'pause', reason: 'auth-revoked' },
} as const satisfies Record<string, Outcome>;

/**
 * The egress proxy answered CONNECT with this status instead of opening the tunnel (`PROXY_502`):
 * nothing reached the destination; retried like any transient failure.
 */
export type ProxyStatusCode = `PROXY_${number}`;

export type SendErrorCode = keyof typeof SEND_ERRORS | ProxyStatusCode;

function isProxyStatus(code: SendErrorCode): code is ProxyStatusCode {
  return /^PROXY_\d{3}$/.test(code);
}

/** What a send error means. */
function ofSendError(code: SendErrorCode): Outcome {
  return isProxyStatus(code) ? { kind: 'transient', ambiguous: false } : SEND_ERRORS[code];
}

/** The codes a token endpoint failure carries. */
export type TokenFailureCode = Extract<
  SendErrorCode,
  'TOKEN_ENDPOINT_UNAVAILABLE' | 'AUTH_REVOKED' | 'TOKEN_REQUEST_REJECTED' | 'TOKEN_URL_FORBIDDEN'
>;

/** What one attempt's send produced. */
export interface SendResult {
  status?: number;
  /** Retry-After header value, raw. */
  retryAfter?: string;
  errorCode?: SendErrorCode;
  errorMessage?: string;
  /** First 1 KiB of the response body. */
  snippet?: string;
  latencyMs: number;
}

export type Outcome =
  | { kind: 'delivered' }
  /** Retry through the delay tiers; `retryAfterMs` when the receiver asked for a wait. */
  | { kind: 'transient'; ambiguous: boolean; retryAfterMs?: number }
  | { kind: 'permanent'; errorClass: DeadLetterClass }
  /** Pause the destination on every instance and keep the message. */
  | { kind: 'pause'; reason: PauseReason };

/** Retry-After is either delta-seconds or an HTTP date. */
export function parseRetryAfter(value: string | undefined, now: number): number | undefined {
  if (!value) return undefined;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  const at = Date.parse(trimmed);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - now);
}

/** Status codes with a meaning of their own; the rest go by class (2xx, 3xx, 4xx, 5xx). */
const STATUS: Record<number, Outcome> = {
  401: { kind: 'pause', reason: 'auth-rejected' },
  403: { kind: 'pause', reason: 'forbidden' },
  // Standard Webhooks: 410 Gone means the endpoint should be disabled.
  410: { kind: 'pause', reason: 'gone' },
  408: { kind: 'transient', ambiguous: false },
  425: { kind: 'transient', ambiguous: false },
  429: { kind: 'transient', ambiguous: false },
  413: { kind: 'permanent', errorClass: 'too-large' },
};

/** 429 and 503 may carry a Retry-After that holds the whole destination. */
const HONOURS_RETRY_AFTER = new Set([429, 503]);

function ofStatus(status: number): Outcome {
  const own = STATUS[status];
  if (own) return own;
  if (status >= 200 && status < 300) return { kind: 'delivered' };
  if (status >= 300 && status < 400) return { kind: 'permanent', errorClass: 'redirect' };
  if (status >= 500) return { kind: 'transient', ambiguous: false };
  return { kind: 'permanent', errorClass: 'permanent' };
}

/** What one attempt's result means; a destination's own status rules come first. */
export function classify(result: SendResult, now: number, rules?: StatusRules): Outcome {
  const { status } = result;
  if (status === undefined) return ofSendError(result.errorCode ?? 'NETWORK_ERROR');
  const own = ruleFor(status, rules);
  const outcome: Outcome =
    own === 'dead-letter'
      ? { kind: 'permanent', errorClass: 'permanent' }
      : own === 'retry'
        ? { kind: 'transient', ambiguous: false }
        : ofStatus(status);
  if (outcome.kind === 'transient' && HONOURS_RETRY_AFTER.has(status)) {
    const retryAfterMs = parseRetryAfter(result.retryAfter, now);
    if (retryAfterMs !== undefined) return { ...outcome, retryAfterMs };
  }
  return outcome;
}

/** Whether a token failure means the client itself was refused (a human must act). */
export function tokenFailureRevokes(code: TokenFailureCode): boolean {
  return SEND_ERRORS[code].kind === 'pause';
}

/**
 * A 401 from a destination whose credentials can be renewed (OAuth2) may only mean an expired
 * token: get a fresh one and send again, once. Anything else goes by `classify`.
 */
export function refreshesCredentials(status: number | undefined, refreshable: boolean): boolean {
  return status === 401 && refreshable;
}

/**
 * The authentication case of an attempt: a pause for credentials names its own case; otherwise
 * `token-unavailable` when the token endpoint could not be reached, `expired` when a refreshed
 * token was sent; none for an attempt that had nothing to do with authentication.
 */
export function authCaseOf(
  outcome: Outcome,
  attempt: { refreshed: boolean; errorCode?: string },
): AuthCase | undefined {
  if (outcome.kind === 'pause') {
    const entry = PAUSE_REASONS[outcome.reason];
    if ('authCase' in entry) return entry.authCase;
  }
  if (attempt.errorCode === 'TOKEN_ENDPOINT_UNAVAILABLE') return 'token-unavailable';
  return attempt.refreshed ? 'expired' : undefined;
}

/** The status class label of metrics and the `--status` filter: `2xx` … `5xx`, `none` without an answer. */
export function statusClass(status: number | undefined): string {
  if (status === undefined) return 'none';
  return `${Math.floor(status / 100)}xx`;
}
