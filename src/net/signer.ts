// Standard Webhooks signing: v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">, one
// space-separated entry per active secret (rotation). The key of each secret is decoded once and
// kept as a KeyObject (building it per message cost more than the HMAC itself).
import { createHmac, createSecretKey, type KeyObject } from 'node:crypto';

export function secretKey(secret: string): Buffer {
  return Buffer.from(secret.startsWith('whsec_') ? secret.slice('whsec_'.length) : secret, 'base64');
}

const keyCache = new Map<string, KeyObject>();

function keyOf(secret: string): KeyObject {
  let key = keyCache.get(secret);
  if (!key) {
    key = createSecretKey(secretKey(secret));
    keyCache.set(secret, key);
  }
  return key;
}

export function sign(input: {
  id: string;
  timestampSeconds: number;
  body: string | Buffer;
  secrets: readonly string[];
}): string {
  const prefix = `${input.id}.${input.timestampSeconds}.`;
  let out = '';
  for (const s of input.secrets) {
    const mac = createHmac('sha256', keyOf(s)).update(prefix).update(input.body).digest('base64');
    out += out ? ` v1,${mac}` : `v1,${mac}`;
  }
  return out;
}
