// Pure expiry math for credential health: days left and whether a credential is close enough to
// its expiry to warn about.

export type CredentialKind = 'oauth2-token' | 'client-certificate' | 'secret';

export interface CredentialExpiry {
  kind: CredentialKind;
  /** Epoch ms. */
  expiresAt: number;
}

export interface CredentialHealthEntry extends CredentialExpiry {
  /** Whole days left, rounded down; negative once expired. */
  daysLeft: number;
}

const DAY_MS = 86_400_000;

export function daysLeft(expiresAt: number, now: number): number {
  return Math.floor((expiresAt - now) / DAY_MS);
}

/**
 * Whether to warn: a certificate or a configured secret expiring within `warningDays` (or already
 * expired). OAuth2 access tokens are short-lived by design and replaced automatically, so their
 * expiry is shown but never warned about.
 */
export function shouldWarn(entry: CredentialExpiry, now: number, warningDays: number): boolean {
  if (entry.kind === 'oauth2-token') return false;
  return entry.expiresAt - now <= warningDays * DAY_MS;
}

export function withDaysLeft(entries: CredentialExpiry[], now: number): CredentialHealthEntry[] {
  return entries.map((e) => ({ ...e, daysLeft: daysLeft(e.expiresAt, now) }));
}
