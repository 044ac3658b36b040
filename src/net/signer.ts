// Standard Webhooks signing over "{id}.{timestamp}.{body}", one space-separated entry per active
// secret (rotation, HMAC and Ed25519 mixed freely):
//   - `whsec_<base64>`: HMAC-SHA256 with the decoded key, sent as `v1,<base64 mac>`;
//   - `whsk_<base64>`: Ed25519 with the secret key, sent as `v1a,<base64 signature>`; receivers
//     verify with the public key `whpk_<base64>` (`courier keys public`).
// A `whsk_` key is the libsodium form, 64 bytes: the 32-byte seed followed by its public key (what
// `courier keys generate` writes); a bare 32-byte seed is taken too. `whpk_` is the raw 32-byte
// public key. Each secret's key is decoded once and kept as a KeyObject (building it per message
// cost more than the HMAC itself).
import {
  createHmac,
  createPrivateKey,
  createPublicKey,
  createSecretKey,
  generateKeyPairSync,
  type KeyObject,
  sign as signWith,
} from 'node:crypto';

export const HMAC_PREFIX = 'whsec_';
export const ED25519_SECRET_PREFIX = 'whsk_';
export const ED25519_PUBLIC_PREFIX = 'whpk_';

/** PKCS#8 DER of an Ed25519 private key is this 16-byte prefix and the 32-byte seed (RFC 8410). */
const PKCS8_ED25519 = Buffer.from('302e020100300506032b657004220420', 'hex');
/** SPKI DER of an Ed25519 public key is this 12-byte prefix and the 32-byte key. */
const SPKI_ED25519 = Buffer.from('302a300506032b6570032100', 'hex');

export function secretKey(secret: string): Buffer {
  return Buffer.from(secret.startsWith(HMAC_PREFIX) ? secret.slice(HMAC_PREFIX.length) : secret, 'base64');
}

/** Why a `whsk_` secret is unusable, or undefined when it is a valid Ed25519 secret key. */
export function ed25519SecretProblem(secret: string): string | undefined {
  const raw = Buffer.from(secret.slice(ED25519_SECRET_PREFIX.length), 'base64');
  if (raw.length !== 32 && raw.length !== 64)
    return `an Ed25519 secret key is 32 bytes (a seed) or 64 (seed and public key), base64; this one is ${raw.length}`;
  if (raw.length === 64) {
    const derived = publicKeyBytes(privateKeyOf(raw.subarray(0, 32)));
    if (!derived.equals(raw.subarray(32))) return 'its last 32 bytes are not the public key of its first 32';
  }
  return undefined;
}

function privateKeyOf(seed: Buffer): KeyObject {
  return createPrivateKey({ key: Buffer.concat([PKCS8_ED25519, seed]), format: 'der', type: 'pkcs8' });
}

function publicKeyBytes(key: KeyObject): Buffer {
  const der = (key.type === 'public' ? key : createPublicKey(key)).export({ format: 'der', type: 'spki' });
  return Buffer.from(der.subarray(der.length - 32));
}

/** The `whpk_…` public key of a `whsk_…` secret, as receivers need it. */
export function publicKeyOf(secret: string): string {
  const seed = Buffer.from(secret.slice(ED25519_SECRET_PREFIX.length), 'base64').subarray(0, 32);
  return `${ED25519_PUBLIC_PREFIX}${publicKeyBytes(privateKeyOf(seed)).toString('base64')}`;
}

/** The KeyObject to verify `v1a` signatures with, from a `whpk_…` public key. */
export function verifyingKey(publicKey: string): KeyObject {
  const raw = Buffer.from(publicKey.slice(ED25519_PUBLIC_PREFIX.length), 'base64');
  return createPublicKey({ key: Buffer.concat([SPKI_ED25519, raw]), format: 'der', type: 'spki' });
}

/** A new Ed25519 pair: the `whsk_` secret (seed and public key, 64 bytes) and its `whpk_` public key. */
export function generateEd25519Pair(): { secret: string; public: string } {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const seed = privateKey.export({ format: 'der', type: 'pkcs8' }).subarray(-32);
  const pub = publicKeyBytes(publicKey);
  return {
    secret: `${ED25519_SECRET_PREFIX}${Buffer.concat([seed, pub]).toString('base64')}`,
    public: `${ED25519_PUBLIC_PREFIX}${pub.toString('base64')}`,
  };
}

type Signing = { kind: 'hmac'; key: KeyObject } | { kind: 'ed25519'; key: KeyObject };

const keyCache = new Map<string, Signing>();

function signingOf(secret: string): Signing {
  let signing = keyCache.get(secret);
  if (!signing) {
    signing = secret.startsWith(ED25519_SECRET_PREFIX)
      ? {
          kind: 'ed25519',
          key: privateKeyOf(
            Buffer.from(secret.slice(ED25519_SECRET_PREFIX.length), 'base64').subarray(0, 32),
          ),
        }
      : { kind: 'hmac', key: createSecretKey(secretKey(secret)) };
    keyCache.set(secret, signing);
  }
  return signing;
}

export function sign(input: {
  id: string;
  timestampSeconds: number;
  body: string | Buffer;
  secrets: readonly string[];
}): string {
  const prefix = `${input.id}.${input.timestampSeconds}.`;
  const entries: string[] = [];
  let content: Buffer | undefined;
  for (const s of input.secrets) {
    const signing = signingOf(s);
    if (signing.kind === 'hmac') {
      const mac = createHmac('sha256', signing.key).update(prefix).update(input.body).digest('base64');
      entries.push(`v1,${mac}`);
    } else {
      content ??= Buffer.concat([Buffer.from(prefix), Buffer.from(input.body)]);
      entries.push(`v1a,${signWith(null, content, signing.key).toString('base64')}`);
    }
  }
  return entries.join(' ');
}
