// Sends one webhook: POST with Standard Webhooks headers through a pooled undici dispatcher per
// destination (keep-alive; through the egress proxy when one applies), a per-destination timeout
// (fixed, or adapted to the latency observed: `timeoutMs: auto`), no redirects, the response body
// capped at 1 KiB, and an SSRF guard that checks every address at connect time (DNS rebinding
// too), or, behind a proxy, the name before the proxy is asked to connect.
import { type Dispatcher, request } from 'undici';
import { literalAddressForbidden, proxiedTargetProblem } from '../net/addressGuard.ts';
import { type ClientTls, createDispatcher, type ServerCertificate } from '../net/dispatcher.ts';
import { errorCode } from '../net/networkError.ts';
import { readSnippet, SNIPPET_TIMEOUT_MS } from '../net/responseSnippet.ts';
import type { SendResult } from '../policy/failures.ts';
import { AdaptiveTimeout } from '../policy/timeouts.ts';
import type { PipelineEmitter } from '../telemetry/events.ts';

export interface SenderOptions {
  /** The destination's id, in the events this sender emits. */
  destination: string;
  url: string;
  /** The timeout, or with `autoTimeout` its upper bound. */
  timeoutMs: number;
  /** Adapt the timeout to the latency observed, within these bounds. */
  autoTimeout?: { minMs: number; maxMs: number };
  connections: number;
  allowPrivateAddresses: boolean;
  userAgent: string;
  /** mTLS: the client certificate and key (PEM text) and an optional CA bundle replacing the default. */
  tls?: ClientTls;
  /** The egress proxy for this destination, if one applies (net/egress.ts). */
  proxy?: string;
  /** Where `timeout-adapted` and `server-certificate` (after each TLS handshake) are emitted. */
  events?: PipelineEmitter;
}

export interface WebhookRequest {
  body: string | Buffer;
  headers: Record<string, string>;
}

export class WebhookSender {
  private readonly agent: Dispatcher;
  private readonly options: SenderOptions;
  private readonly literalForbidden: boolean;
  private readonly hostname: string;
  private readonly adaptive: AdaptiveTimeout | undefined;

  constructor(options: SenderOptions) {
    this.options = options;
    this.hostname = new URL(options.url).hostname;
    // An IP literal never goes through lookup, so it is checked here once.
    this.literalForbidden = literalAddressForbidden(options.url, options.allowPrivateAddresses);
    this.adaptive = options.autoTimeout ? new AdaptiveTimeout(options.autoTimeout) : undefined;
    this.agent = createDispatcher({
      allowPrivateAddresses: options.allowPrivateAddresses,
      connections: options.connections,
      timeoutMs: options.timeoutMs,
      ...(options.tls ? { tls: options.tls } : {}),
      ...(options.proxy ? { proxy: options.proxy } : {}),
      ...(options.events ? { onServerCertificate: (cert: ServerCertificate) => this.certificate(cert) } : {}),
    });
  }

  /** The timeout the next request gets (ms). */
  timeoutMs(): number {
    return this.adaptive?.current() ?? this.options.timeoutMs;
  }

  async send(req: WebhookRequest): Promise<SendResult> {
    const started = performance.now();
    const latency = () => Math.round(performance.now() - started);
    if (this.literalForbidden) {
      return {
        errorCode: 'FORBIDDEN_ADDRESS',
        errorMessage: 'destination address is private or reserved',
        latencyMs: 0,
      };
    }
    if (this.options.proxy && !this.options.allowPrivateAddresses) {
      const problem = await proxiedTargetProblem(this.hostname);
      if (problem) return { errorCode: 'FORBIDDEN_ADDRESS', errorMessage: problem, latencyMs: 0 };
    }
    // A timer cleared on completion: AbortSignal.timeout() would fire (and build an exception)
    // for every request, long after it was answered.
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), this.timeoutMs());
    // undici does not end a request whose connection is still being made when it is aborted: the
    // attempt ends at the timeout whatever the connection does (which its own budget ends later).
    const cut = new Promise<never>((_, reject) => {
      controller.signal.addEventListener('abort', () => reject(controller.signal.reason), { once: true });
    });
    let result: SendResult;
    try {
      const sent = request(this.options.url, {
        method: 'POST',
        dispatcher: this.agent,
        headers: {
          ...req.headers,
          'content-type': 'application/json',
          'user-agent': this.options.userAgent,
        },
        body: req.body,
        signal: controller.signal,
      });
      sent.catch(() => {});
      const res = await Promise.race([sent, cut]);
      const snippet = await readSnippet(res.body as never, SNIPPET_TIMEOUT_MS);
      const retryAfter = res.headers['retry-after'];
      result = {
        status: res.statusCode,
        snippet,
        latencyMs: latency(),
        ...(retryAfter === undefined
          ? {}
          : { retryAfter: Array.isArray(retryAfter) ? retryAfter[0] : retryAfter }),
      };
    } catch (err) {
      const { code, message } = errorCode(err);
      result = { errorCode: code, errorMessage: message, latencyMs: latency() };
    } finally {
      clearTimeout(timer);
    }
    this.learn(result);
    return result;
  }

  /** Feeds the adaptive timeout: answered requests' latency, and timeouts. */
  private learn(result: SendResult): void {
    if (!this.adaptive) return;
    const change =
      result.status !== undefined
        ? this.adaptive.observe(result.latencyMs)
        : result.errorCode === 'TIMEOUT'
          ? this.adaptive.timedOut()
          : undefined;
    if (!change) return;
    this.options.events?.emit('timeout-adapted', {
      destination: this.options.destination,
      timeoutMs: change.to,
      fromMs: change.from,
      p99Ms: change.p99Ms,
      p999Ms: change.p999Ms,
      cause: change.cause,
    });
  }

  private certificate(cert: ServerCertificate): void {
    this.options.events?.emit('server-certificate', { destination: this.options.destination, ...cert });
  }

  /** Lets open requests finish, then closes the connections. */
  async close(): Promise<void> {
    await this.agent.close().catch(() => {});
  }

  /** Cuts every open request and connection now (a stop past its deadline). */
  destroy(): void {
    this.agent.destroy().catch(() => {});
  }
}
