// Watches each destination's own HTTPS certificate: every TLS handshake a delivery makes reports
// the server's certificate (no extra connection), recorded for all instances; a destination no
// handshake has been seen for lately (idle, or just started) gets a handshake-only probe. The
// alert evaluator warns `tlsWarningDays` ahead (`tls-certificate-expiring`). Destinations reached
// through an egress proxy are not probed (the tunnel's handshake is not observed either).
import type { CourierConfig } from '../config/schema.ts';
import type { ClientTls, ServerCertificate } from '../net/dispatcher.ts';
import { destinationProxy } from '../net/egress.ts';
import { probeServerCertificate } from '../net/tlsProbe.ts';
import type { TlsCertificates } from '../redis/tlsCertificates.ts';
import type { PipelineEmitter, PipelineEvents } from '../telemetry/events.ts';
import type { Logger } from '../telemetry/logger.ts';

export interface TlsWatchOptions {
  certificates: TlsCertificates;
  /** The configuration now (a reload changes the destinations). */
  config: () => CourierConfig;
  /** A destination's client TLS (mTLS), for a server that asks for a certificate during the probe. */
  clientTls: (destination: string) => ClientTls | undefined;
  /** The deliveries' `server-certificate` events are recorded from here. */
  events: PipelineEmitter;
  logger: Logger;
  /** How often destinations are looked at (default 10 min); the first look is at start. */
  checkEveryMs?: number;
  /** A destination not seen in a handshake for this long is probed (default 6 h). */
  staleMs?: number;
}

export class TlsWatch {
  private readonly options: TlsWatchOptions;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;

  constructor(options: TlsWatchOptions) {
    this.options = options;
    // From the first delivery on, before the first look.
    options.events.on('server-certificate', this.onCertificate);
  }

  private readonly onCertificate = ({ destination, ...cert }: PipelineEvents['server-certificate'][0]) =>
    this.seen(destination, cert);

  /** A delivery's handshake, or a probe, saw this certificate. */
  private seen(destination: string, cert: ServerCertificate): void {
    this.options.certificates
      .seen(destination, cert)
      .catch((err) => this.options.logger.debug({ err, destination }, 'server certificate not recorded'));
  }

  start(): void {
    this.check();
    this.timer = setInterval(() => this.check(), this.options.checkEveryMs ?? 600_000);
    this.timer.unref();
  }

  stop(): void {
    this.options.events.off('server-certificate', this.onCertificate);
    clearInterval(this.timer);
  }

  private check(): void {
    if (this.running) return;
    this.running = this.probeStale().finally(() => {
      this.running = undefined;
    });
  }

  private async probeStale(): Promise<void> {
    const config = this.options.config();
    const now = Date.now();
    for (const d of config.destinations) {
      if (!d.url.startsWith('https:')) continue;
      const last = this.options.certificates.lastSeen(d.id);
      if (last !== undefined && now - last < (this.options.staleMs ?? 6 * 3_600_000)) continue;
      if (destinationProxy(config.network, d, d.url)) continue;
      const tls = this.options.clientTls(d.id);
      const cert = await probeServerCertificate({
        url: d.url,
        allowPrivateAddresses: config.network.allowPrivateAddresses,
        timeoutMs: 10_000,
        ...(tls ? { tls } : {}),
      }).catch(() => undefined);
      if (cert) this.seen(d.id, cert);
    }
  }
}
