// Outcome classification (DESIGN §5): one function turns an HTTP response or a send error
// into what Courier does next. Pure.

export type OutcomeKind = 'delivered' | 'transient' | 'permanent' | 'pause';

/** Why a response pauses its destination (every instance) until an operator resumes it. */
export type PauseCause = 'auth-rejected' | 'forbidden' | 'gone';

/** Why a send produced no HTTP response; `ambiguous` when the receiver may have processed it. */
export type SendErrorCode =
  | 'TIMEOUT'
  | 'CONNECTION_REFUSED'
  | 'CONNECTION_RESET'
  | 'DNS_FAILURE'
  | 'TLS_FAILURE'
  | 'FORBIDDEN_ADDRESS'
  /** The request could not be built (e.g. a header value undici refuses): nothing was sent. */
  | 'INVALID_REQUEST'
  | 'NETWORK_ERROR';

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

export interface Outcome {
  kind: OutcomeKind;
  /** DLQ class for permanent outcomes: permanent · redirect · too-large. */
  errorClass?: 'permanent' | 'redirect' | 'too-large' | 'forbidden' | 'invalid-request';
  /** For `pause`: 401 auth-rejected, 403 forbidden, 410 gone. */
  pauseCause?: PauseCause;
  /** Milliseconds the destination asked us to wait (429/503 Retry-After). */
  retryAfterMs?: number;
  /** The receiver may have processed the request although we saw no success (timeout, reset). */
  ambiguous: boolean;
}

/** Retry-After is either delta-seconds or an HTTP date. */
export function parseRetryAfter(value: string | undefined, now: number): number | undefined {
  if (!value) return undefined;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  const at = Date.parse(trimmed);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - now);
}

const TRANSIENT_4XX = new Set([408, 425, 429]);

export function classify(result: SendResult, now: number = Date.now()): Outcome {
  const { status } = result;
  if (status === undefined) {
    if (result.errorCode === 'FORBIDDEN_ADDRESS')
      return { kind: 'permanent', errorClass: 'forbidden', ambiguous: false };
    // Nothing left the machine and a retry would fail the same way.
    if (result.errorCode === 'INVALID_REQUEST')
      return { kind: 'permanent', errorClass: 'invalid-request', ambiguous: false };
    // A timeout or a reset after the request went out may have been processed by the receiver.
    const ambiguous =
      result.errorCode === 'TIMEOUT' ||
      result.errorCode === 'CONNECTION_RESET' ||
      result.errorCode === 'NETWORK_ERROR';
    return { kind: 'transient', ambiguous };
  }
  if (status >= 200 && status < 300) return { kind: 'delivered', ambiguous: false };
  if (status === 401) return { kind: 'pause', pauseCause: 'auth-rejected', ambiguous: false };
  if (status === 403) return { kind: 'pause', pauseCause: 'forbidden', ambiguous: false };
  // Standard Webhooks: 410 Gone means the endpoint should be disabled.
  if (status === 410) return { kind: 'pause', pauseCause: 'gone', ambiguous: false };
  if (status === 429 || status === 503) {
    const retryAfterMs = parseRetryAfter(result.retryAfter, now);
    return retryAfterMs === undefined
      ? { kind: 'transient', ambiguous: false }
      : { kind: 'transient', retryAfterMs, ambiguous: false };
  }
  if (TRANSIENT_4XX.has(status) || status >= 500) return { kind: 'transient', ambiguous: false };
  if (status >= 300 && status < 400) return { kind: 'permanent', errorClass: 'redirect', ambiguous: false };
  if (status === 413) return { kind: 'permanent', errorClass: 'too-large', ambiguous: false };
  return { kind: 'permanent', errorClass: 'permanent', ambiguous: false };
}
