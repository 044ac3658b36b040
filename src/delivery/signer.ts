// Standard Webhooks signing: v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">, one
// space-separated entry per active secret (rotation). Pure.
import { createHmac } from 'node:crypto';

export function secretKey(secret: string): Buffer {
  return Buffer.from(secret.startsWith('whsec_') ? secret.slice('whsec_'.length) : secret, 'base64');
}

export function sign(input: {
  id: string;
  timestampSeconds: number;
  body: string;
  secrets: readonly string[];
}): string {
  const content = `${input.id}.${input.timestampSeconds}.${input.body}`;
  return input.secrets
    .map((s) => `v1,${createHmac('sha256', secretKey(s)).update(content).digest('base64')}`)
    .join(' ');
}
