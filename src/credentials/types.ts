// What the delivery core asks of a destination's credentials, whatever their kind (OAuth2, Basic,
// mTLS or none): the interface every implementation in this folder provides.
import type { ClientTls } from '../net/dispatcher.ts';
import type { CredentialExpiry } from './expiry.ts';
import type { TokenFailure } from './tokenResponse.ts';

export type AuthorizeResult = { ok: true; headers: Record<string, string> } | TokenFailure;

export interface AuthorizeOptions {
  /** The receiver refused the credentials just sent: get new ones (OAuth2: a new token). */
  forceRefresh?: boolean;
  /** The headers of the refused request, so a token already replaced is not replaced twice. */
  rejectedHeaders?: Record<string, string>;
}

export interface DestinationCredentials {
  /** Headers to add to the next request, or why there are none (transient: retry later; revoked: pause). */
  authorize(o?: AuthorizeOptions): Promise<AuthorizeResult>;
  /** Whether a refused credential can be replaced by asking again (OAuth2 only). */
  readonly refreshable: boolean;
  /** Client certificate, key and CA (PEM text) for the destination's HTTP client. */
  readonly tls?: ClientTls;
  /** When each credential of the destination expires, as far as known. */
  expiry(): Promise<CredentialExpiry[]>;
  /**
   * Cuts what is under way now (a stop past its deadline): a token request in flight ends as
   * TOKEN_ENDPOINT_UNAVAILABLE, and no new one is made. Optional: only OAuth2 makes requests.
   */
  abort?(): void;
  close(): Promise<void>;
}
