// Each destination's HTTPS certificate as last seen, shared by every instance (so `courier status`
// and the alert evaluator see it from anywhere): written when it changes, and at most once an hour
// otherwise (every handshake reports it; most are the same certificate again).
import type { RedisKeys } from './keys.ts';

/** A server certificate as kept (the same shape net/dispatcher.ts reports). */
export interface ServerCertificate {
  /** When it expires (epoch ms). */
  notAfter: number;
  subject: string;
  issuer: string;
}

export interface SeenCertificate extends ServerCertificate {
  /** When it was last seen (epoch ms). */
  seenAt: number;
}

export interface CertificateRedis {
  set(key: string, value: string, mode: 'PX', ms: number): Promise<unknown>;
  get(key: string): Promise<string | null>;
}

/** How long a seen certificate is kept without being seen again. */
const KEEP_MS = 14 * 86_400_000;
const REWRITE_MS = 3_600_000;

export class TlsCertificates {
  private readonly redis: CertificateRedis;
  private readonly keys: RedisKeys;
  private readonly written = new Map<string, { notAfter: number; subject: string; at: number }>();

  constructor(redis: CertificateRedis, keys: RedisKeys) {
    this.redis = redis;
    this.keys = keys;
  }

  /** When this process last recorded a destination's certificate (epoch ms), if it did. */
  lastSeen(destination: string): number | undefined {
    return this.written.get(destination)?.at;
  }

  /** Records a handshake's certificate (cheap when it is the one recorded lately). */
  async seen(destination: string, cert: ServerCertificate, now = Date.now()): Promise<void> {
    const last = this.written.get(destination);
    if (
      last &&
      last.notAfter === cert.notAfter &&
      last.subject === cert.subject &&
      now - last.at < REWRITE_MS
    )
      return;
    this.written.set(destination, { notAfter: cert.notAfter, subject: cert.subject, at: now });
    const value: SeenCertificate = { ...cert, seenAt: now };
    await this.redis.set(this.keys.tlsCertificate(destination), JSON.stringify(value), 'PX', KEEP_MS);
  }

  async read(destination: string): Promise<SeenCertificate | undefined> {
    const raw = await this.redis.get(this.keys.tlsCertificate(destination));
    if (!raw) return undefined;
    try {
      return JSON.parse(raw) as SeenCertificate;
    } catch {
      return undefined;
    }
  }
}
