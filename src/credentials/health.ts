// Credential health: when each destination's credentials expire (OAuth2 token, client
// certificate notAfter, configured secretsExpireAt) for `courier status`/`inspect`, and a monitor
// that warns N days ahead (log code CREDENTIAL_EXPIRING + the `credential-expiring` event the
// alert engine subscribes to).

import type { CourierConfig } from '../config/schema.ts';
import type { CourierRedis } from '../redis/client.ts';
import type { PipelineEmitter } from '../telemetry/events.ts';
import type { Logger } from '../telemetry/logger.ts';
import type { DestinationCredentials } from './credentials.ts';
import { certificateNotAfter, readPem } from './credentials.ts';
import { type CredentialExpiry, type CredentialHealthEntry, shouldWarn, withDaysLeft } from './expiry.ts';
import { oauthKeys, parseCachedToken } from './oauth2.ts';

/**
 * Per destination, every known credential expiry with the days left. Reads only: the cached OAuth2
 * token from Redis (no token request), certificates from the configuration.
 */
export async function credentialHealth(
  config: CourierConfig,
  redis: CourierRedis,
  now: number = Date.now(),
): Promise<Record<string, CredentialHealthEntry[]>> {
  const out: Record<string, CredentialHealthEntry[]> = {};
  for (const d of config.destinations) {
    const entries: CredentialExpiry[] = [];
    if (d.auth?.type === 'oauth2') {
      const token = parseCachedToken(await redis.get(oauthKeys(config.kafka.topicPrefix, d.id).token));
      if (token) entries.push({ kind: 'oauth2-token', expiresAt: token.expiresAt });
    } else if (d.auth?.type === 'mtls') {
      try {
        const what = `destinations.${d.id}.auth.cert`;
        entries.push({
          kind: 'client-certificate',
          expiresAt: certificateNotAfter(readPem(d.auth.cert, what), what),
        });
      } catch {
        // An unreadable certificate is reported when Courier starts; health shows what it can.
      }
    }
    if (d.secretsExpireAt) entries.push({ kind: 'secret', expiresAt: Date.parse(d.secretsExpireAt) });
    out[d.id] = withDaysLeft(entries, now);
  }
  return out;
}

/** One line per credential for CLI output, e.g. `client-certificate expires 2026-12-01T… (3 days left)`. */
export function describeHealth(entries: CredentialHealthEntry[]): string[] {
  return entries.map(
    (e) =>
      `${e.kind} ${e.expiresAt > Date.now() ? 'expires' : 'expired'} ${new Date(e.expiresAt).toISOString()} (${e.daysLeft} day(s) left)`,
  );
}

/** One destination as the monitor watches it. */
export interface WatchedCredentials {
  id: string;
  credentials: DestinationCredentials;
  warningDays: number;
  /** The configured expiry of the signing secrets (ISO-8601), if any. */
  secretsExpireAt?: string;
}

export interface CredentialMonitorOptions {
  destinations: WatchedCredentials[];
  events: PipelineEmitter;
  logger: Logger;
  /** How often expiries are checked; default 1 h. */
  intervalMs?: number;
  /** A warning for the same credential is repeated after this long; default 24 h. */
  repeatMs?: number;
  now?: () => number;
}

export class CredentialMonitor {
  private readonly options: CredentialMonitorOptions;
  private readonly now: () => number;
  private readonly log: Logger;
  private readonly warned = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;

  constructor(options: CredentialMonitorOptions) {
    this.options = options;
    this.now = options.now ?? Date.now;
    this.log = options.logger.child({ component: 'credentials' });
  }

  async start(): Promise<void> {
    await this.check();
    this.timer = setInterval(() => {
      this.check().catch((err) => this.log.warn({ err }, 'credential expiry check failed'));
    }, this.options.intervalMs ?? 3_600_000);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
  }

  /** Watches a reloaded set of destinations from now on, and checks them at once. */
  setDestinations(destinations: WatchedCredentials[]): void {
    this.options.destinations = destinations;
    this.check().catch((err) => this.log.warn({ err }, 'credential expiry check failed'));
  }

  /** Warns about every credential within its destination's warning window (once per repeat period). */
  async check(): Promise<void> {
    const now = this.now();
    for (const d of this.options.destinations) {
      const expiries = [
        ...(await d.credentials.expiry()),
        ...(d.secretsExpireAt ? [{ kind: 'secret' as const, expiresAt: Date.parse(d.secretsExpireAt) }] : []),
      ];
      for (const e of withDaysLeft(expiries, now)) {
        if (!shouldWarn(e, now, d.warningDays)) continue;
        const key = `${d.id}|${e.kind}|${e.expiresAt}`;
        const last = this.warned.get(key);
        if (last !== undefined && now - last < (this.options.repeatMs ?? 86_400_000)) continue;
        this.warned.set(key, now);
        const expiresAt = new Date(e.expiresAt).toISOString();
        this.log.warn(
          { code: 'CREDENTIAL_EXPIRING', destination: d.id, kind: e.kind, expiresAt, daysLeft: e.daysLeft },
          e.expiresAt > now
            ? `${e.kind} of destination ${d.id} expires in ${e.daysLeft} day(s): renew it`
            : `${e.kind} of destination ${d.id} has expired: renew it`,
        );
        this.options.events.emit('credential-expiring', {
          destination: d.id,
          kind: e.kind,
          expiresAt: e.expiresAt,
          daysLeft: e.daysLeft,
        });
      }
    }
  }
}
