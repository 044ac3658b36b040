// Masks every secret in a resolved configuration before it is shown (`courier config check`):
// signing secrets, header values, everything under `auth` and `sasl` but its type or mechanism,
// fields whose name says secret/password/token/key, and credentials or token-like query
// parameters inside URLs (redis://user:pass@host).

import { createHash } from 'node:crypto';

export const MASK = '***';

/** What a secret is replaced by: `***`, or a fingerprint that changes when the secret does. */
export type Hide = (secret: string) => string;
const mask: Hide = () => MASK;

const SECRET_NAME = /secret|password|passphrase|token|credential|api[-_]?key|private[-_]?key|^key$/i;
/** Objects whose every field is a credential, except the one that names their kind. */
const ALL_SECRET = new Map([
  ['auth', new Set(['type'])],
  ['sasl', new Set(['mechanism'])],
]);

/** The URL with its password (or a lone user, often a token) and token-like parameters masked. */
export function maskUrl(text: string, hide: Hide = mask): string {
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(text) || !URL.canParse(text)) return text;
  const url = new URL(text);
  let changed = false;
  if (url.password) {
    url.password = hide(decodeURIComponent(url.password));
    changed = true;
  } else if (url.username) {
    url.username = hide(decodeURIComponent(url.username));
    changed = true;
  }
  for (const name of [...url.searchParams.keys()]) {
    if (SECRET_NAME.test(name) || /^(sig|signature|auth|code)$/i.test(name)) {
      url.searchParams.set(name, hide(url.searchParams.get(name) ?? ''));
      changed = true;
    }
  }
  return changed ? url.toString() : text;
}

function maskAll(value: unknown, hide: Hide): unknown {
  if (Array.isArray(value)) return value.map((v) => maskAll(v, hide));
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, hide(JSON.stringify(v))]));
  }
  return value === undefined ? value : hide(String(value));
}

/**
 * A copy of `value` with every secret replaced by `***` (or by what `hide` makes of it: the
 * fingerprints `courier config diff` compares); the input is not changed.
 */
export function maskSecrets(value: unknown, key?: string, hide: Hide = mask): unknown {
  if (typeof value === 'string')
    return key !== undefined && SECRET_NAME.test(key) ? hide(value) : maskUrl(value, hide);
  if (Array.isArray(value)) {
    return key !== undefined && SECRET_NAME.test(key)
      ? value.map((v) => maskAll(v, hide))
      : value.map((v) => maskSecrets(v, undefined, hide));
  }
  if (value === null || typeof value !== 'object') return value;
  const entries = Object.entries(value as Record<string, unknown>);
  if (key === 'headers') return Object.fromEntries(entries.map(([k, v]) => [k, maskAll(v, hide)]));
  const keep = key === undefined ? undefined : ALL_SECRET.get(key);
  if (keep) return Object.fromEntries(entries.map(([k, v]) => [k, keep.has(k) ? v : maskAll(v, hide)]));
  if (key !== undefined && SECRET_NAME.test(key)) return maskAll(value, hide);
  return Object.fromEntries(entries.map(([k, v]) => [k, maskSecrets(v, k, hide)]));
}

/** `sha256:` and 16 hex digits of the secret: equal secrets, equal fingerprints; nothing to read back. */
export const fingerprint: Hide = (secret) =>
  `sha256:${createHash('sha256').update(secret).digest('hex').slice(0, 16)}`;

/** A copy of a configuration with every secret replaced by its fingerprint (what is kept to diff against). */
export function fingerprintSecrets<T>(value: T): T {
  return maskSecrets(value, undefined, fingerprint) as T;
}
