// The observability HTTP endpoint of `courier run`: /metrics (Prometheus), /healthz (the process
// answers), /readyz (Kafka and Redis reachable, every role's consumer running) and, when enabled,
// the read-only status page at / with a per-event lookup at /events/<id>, and, when enabled, the
// one route that acts: `POST /-/reload` (the configuration file, as SIGHUP; never a body's).
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { CourierError } from '../errors.ts';
import type { Logger } from '../telemetry/logger.ts';

/** The observability port could not be bound (in use by another instance, or not permitted). */
export class ObservabilityListenError extends CourierError {
  constructor(host: string, port: number, cause: unknown) {
    super(
      'OBSERVABILITY_LISTEN_FAILED',
      `cannot serve /metrics on ${host}:${port} (${(cause as NodeJS.ErrnoException).code ?? (cause as Error).message}); ` +
        'set observability.port (0 picks a free port) or observability.enabled: false',
      { cause },
    );
  }
}

export interface Check {
  ok: boolean;
  detail?: string;
}

export interface Readiness {
  ready: boolean;
  checks: Record<string, Check>;
}

export interface StatusPages {
  /** The status page (HTML). */
  overview(): Promise<string>;
  /** One event's page (HTML) and whether it was found. */
  event(eventId: string): Promise<{ found: boolean; html: string }>;
  /** The status view as JSON. */
  json(): Promise<unknown>;
}

export interface ObservabilityServerOptions {
  host: string;
  port: number;
  logger: Logger;
  metrics: () => Promise<{ contentType: string; body: string }>;
  readiness: () => Promise<Readiness>;
  pages?: StatusPages;
  /** `POST /-/reload`: reloads the configuration file; 200 when applied, 409 when not. */
  reload?: () => Promise<{ ok: boolean }>;
}

export class ObservabilityServer {
  private readonly options: ObservabilityServerOptions;
  private readonly server: Server;
  private readonly log: Logger;

  constructor(options: ObservabilityServerOptions) {
    this.options = options;
    this.log = options.logger.child({ component: 'observability' });
    this.server = createServer((req, res) => {
      this.route(req, res).catch((err) => {
        this.log.warn({ err, path: req.url }, 'observability request failed');
        if (!res.headersSent) send(res, 500, 'text/plain; charset=utf-8', 'internal error\n');
        else res.destroy();
      });
    });
  }

  async start(): Promise<void> {
    const listening = once(this.server, 'listening');
    this.server.listen(this.options.port, this.options.host);
    try {
      await listening;
    } catch (err) {
      throw new ObservabilityListenError(this.options.host, this.options.port, err);
    }
    this.log.info({ host: this.options.host, port: this.port }, 'observability endpoint listening');
  }

  /** The bound port (useful when configured as 0). */
  get port(): number {
    return (this.server.address() as AddressInfo | null)?.port ?? this.options.port;
  }

  async stop(): Promise<void> {
    if (!this.server.listening) return;
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private async route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const path = url.pathname;
    if (path === '/-/reload' && this.options.reload) {
      if (req.method !== 'POST' && req.method !== 'PUT') {
        send(res, 405, 'text/plain; charset=utf-8', 'POST to reload\n');
        return;
      }
      req.resume(); // a body is never read: only the file on disk is reloaded
      const result = await this.options.reload();
      send(res, result.ok ? 200 : 409, 'application/json', `${JSON.stringify(result)}\n`);
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      send(res, 405, 'text/plain; charset=utf-8', 'read-only\n');
      return;
    }
    if (path === '/metrics') {
      const { contentType, body } = await this.options.metrics();
      send(res, 200, contentType, body);
    } else if (path === '/healthz') {
      send(res, 200, 'application/json', `${JSON.stringify({ ok: true })}\n`);
    } else if (path === '/readyz') {
      const readiness = await this.options.readiness();
      send(res, readiness.ready ? 200 : 503, 'application/json', `${JSON.stringify(readiness)}\n`);
    } else if (this.options.pages && (path === '/' || path === '/status')) {
      send(res, 200, 'text/html; charset=utf-8', await this.options.pages.overview());
    } else if (this.options.pages && path === '/status.json') {
      send(res, 200, 'application/json', `${JSON.stringify(await this.options.pages.json())}\n`);
    } else if (this.options.pages && (path.startsWith('/events/') || path === '/events')) {
      const id = path === '/events' ? (url.searchParams.get('id') ?? '') : decodeURIComponent(path.slice(8));
      const page = await this.options.pages.event(id.trim());
      send(res, page.found ? 200 : 404, 'text/html; charset=utf-8', page.html);
    } else {
      send(res, 404, 'text/plain; charset=utf-8', 'not found\n');
    }
  }
}

function send(res: ServerResponse, status: number, contentType: string, body: string): void {
  res.writeHead(status, {
    'content-type': contentType,
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
  });
  res.end(res.req.method === 'HEAD' ? undefined : body);
}

/** Runs a check with a deadline, so /readyz answers quickly even when a dependency hangs. */
export async function check(run: () => Promise<unknown>, timeoutMs: number): Promise<Check> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      run(),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
      }),
    ]);
    return { ok: true };
  } catch (err) {
    return { ok: false, detail: (err as Error).message };
  } finally {
    clearTimeout(timer);
  }
}
