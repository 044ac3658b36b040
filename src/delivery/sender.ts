// Sends one webhook: POST with Standard Webhooks headers through a pooled undici Agent per
// destination (keep-alive), a per-destination timeout, no redirects, the response body capped
// at 1 KiB, and an SSRF guard that checks every address at connect time (DNS rebinding too).
import { type Agent, request } from 'undici';
import { literalAddressForbidden } from '../net/addressGuard.ts';
import { type ClientTls, createDispatcher } from '../net/dispatcher.ts';
import { errorCode } from '../net/networkError.ts';
import { readSnippet, SNIPPET_TIMEOUT_MS } from '../net/responseSnippet.ts';
import type { SendResult } from '../policy/failures.ts';

export interface SenderOptions {
  url: string;
  timeoutMs: number;
  connections: number;
  allowPrivateAddresses: boolean;
  userAgent: string;
  /** mTLS: the client certificate and key (PEM text) and an optional CA bundle replacing the default. */
  tls?: ClientTls;
}

export interface WebhookRequest {
  body: string | Buffer;
  headers: Record<string, string>;
}

export class WebhookSender {
  private readonly agent: Agent;
  private readonly options: SenderOptions;
  private readonly literalForbidden: boolean;

  constructor(options: SenderOptions) {
    this.options = options;
    // An IP literal never goes through lookup, so it is checked here once.
    this.literalForbidden = literalAddressForbidden(options.url, options.allowPrivateAddresses);
    this.agent = createDispatcher({
      allowPrivateAddresses: options.allowPrivateAddresses,
      connections: options.connections,
      timeoutMs: options.timeoutMs,
      ...(options.tls ? { tls: options.tls } : {}),
    });
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
    // A timer cleared on completion: AbortSignal.timeout() would fire (and build an exception)
    // for every request, long after it was answered.
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), this.options.timeoutMs);
    try {
      const res = await request(this.options.url, {
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
      const snippet = await readSnippet(res.body as never, SNIPPET_TIMEOUT_MS);
      const retryAfter = res.headers['retry-after'];
      return {
        status: res.statusCode,
        snippet,
        latencyMs: latency(),
        ...(retryAfter === undefined
          ? {}
          : { retryAfter: Array.isArray(retryAfter) ? retryAfter[0] : retryAfter }),
      };
    } catch (err) {
      const { code, message } = errorCode(err);
      return { errorCode: code, errorMessage: message, latencyMs: latency() };
    } finally {
      clearTimeout(timer);
    }
  }

  async close(): Promise<void> {
    await this.agent.close().catch(() => {});
  }
}
