// Masks every secret in a resolved configuration before it is shown (`courier config check`):
// signing secrets, header values, everything under `auth` and `sasl` but its type or mechanism,
// fields whose name says secret/password/token/key, and credentials or token-like query
// parameters inside URLs (redis://user:pass@host).

export const MASK = '***';

const SECRET_NAME = /secret|password|passphrase|token|credential|api[-_]?key|private[-_]?key|^key$/i;
/** Objects whose every field is a credential, except the one that names their kind. */
const ALL_SECRET = new Map([
  ['auth', new Set(['type'])],
  ['sasl', new Set(['mechanism'])],
]);

/** The URL with its password (or a lone user, often a token) and token-like parameters masked. */
export function maskUrl(text: string): string {
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(text) || !URL.canParse(text)) return text;
  const url = new URL(text);
  let changed = false;
  if (url.password) {
    url.password = MASK;
    changed = true;
  } else if (url.username) {
    url.username = MASK;
    changed = true;
  }
  for (const name of [...url.searchParams.keys()]) {
    if (SECRET_NAME.test(name) || /^(sig|signature|auth|code)$/i.test(name)) {
      url.searchParams.set(name, MASK);
      changed = true;
    }
  }
  return changed ? url.toString() : text;
}

function maskAll(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(maskAll);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.keys(value).map((k) => [k, MASK]));
  }
  return value === undefined ? value : MASK;
}

/** A copy of `value` with every secret replaced by `***`; the input is not changed. */
export function maskSecrets(value: unknown, key?: string): unknown {
  if (typeof value === 'string') return key !== undefined && SECRET_NAME.test(key) ? MASK : maskUrl(value);
  if (Array.isArray(value)) {
    return key !== undefined && SECRET_NAME.test(key) ? value.map(maskAll) : value.map((v) => maskSecrets(v));
  }
  if (value === null || typeof value !== 'object') return value;
  const entries = Object.entries(value as Record<string, unknown>);
  if (key === 'headers') return Object.fromEntries(entries.map(([k, v]) => [k, maskAll(v)]));
  const keep = key === undefined ? undefined : ALL_SECRET.get(key);
  if (keep) return Object.fromEntries(entries.map(([k, v]) => [k, keep.has(k) ? v : maskAll(v)]));
  if (key !== undefined && SECRET_NAME.test(key)) return maskAll(value);
  return Object.fromEntries(entries.map(([k, v]) => [k, maskSecrets(v, k)]));
}
