// Calls an OAuth2 token endpoint (RFC 6749 §4.4.2): one form-encoded POST through its own undici
// Agent with the same SSRF guard as deliveries (a token URL on a private or loopback address is
// refused unless network.allowPrivateAddresses), a timeout, and the answer capped at 64 KiB.
import { type Dispatcher, request } from 'undici';
import { literalAddressForbidden, proxiedTargetProblem } from '../net/addressGuard.ts';
import { createDispatcher } from '../net/dispatcher.ts';
import { errorCode } from '../net/networkError.ts';
import {
  parseTokenResponse,
  type TokenRequestInput,
  type TokenResult,
  tokenNetworkFailure,
  tokenRequest,
} from './tokenResponse.ts';

const MAX_TOKEN_RESPONSE_BYTES = 64 * 1024;

export interface TokenEndpointOptions extends TokenRequestInput {
  tokenUrl: string;
  timeoutMs: number;
  allowPrivateAddresses: boolean;
  userAgent: string;
  /** The same egress as the destination's deliveries. */
  proxy?: string;
  now?: () => number;
}

export class TokenEndpoint {
  private readonly options: TokenEndpointOptions;
  private readonly agent: Dispatcher;
  private readonly literalForbidden: boolean;
  private readonly now: () => number;

  constructor(options: TokenEndpointOptions) {
    this.options = options;
    this.now = options.now ?? Date.now;
    this.literalForbidden = literalAddressForbidden(options.tokenUrl, options.allowPrivateAddresses);
    this.agent = createDispatcher({
      allowPrivateAddresses: options.allowPrivateAddresses,
      connections: 2,
      keepAliveTimeoutMs: 10_000,
      timeoutMs: options.timeoutMs,
      ...(options.proxy ? { proxy: options.proxy } : {}),
    });
  }

  /** Asks for a new access token. Never throws; never puts the secret or the token in a message. */
  async fetchToken(): Promise<TokenResult> {
    if (this.literalForbidden) return tokenNetworkFailure('FORBIDDEN_ADDRESS', true);
    if (this.options.proxy && !this.options.allowPrivateAddresses) {
      if (await proxiedTargetProblem(new URL(this.options.tokenUrl).hostname)) {
        return tokenNetworkFailure('FORBIDDEN_ADDRESS', true);
      }
    }
    const { body, headers } = tokenRequest(this.options);
    try {
      const res = await request(this.options.tokenUrl, {
        method: 'POST',
        dispatcher: this.agent,
        headers: { ...headers, 'user-agent': this.options.userAgent },
        body,
        signal: AbortSignal.timeout(this.options.timeoutMs),
      });
      const chunks: Buffer[] = [];
      let size = 0;
      for await (const chunk of res.body as AsyncIterable<Buffer>) {
        size += chunk.length;
        if (size > MAX_TOKEN_RESPONSE_BYTES) break;
        chunks.push(chunk);
      }
      if (size > MAX_TOKEN_RESPONSE_BYTES) {
        res.body.destroy();
        return parseTokenResponse(res.statusCode >= 300 ? res.statusCode : 502, '', this.now());
      }
      return parseTokenResponse(res.statusCode, Buffer.concat(chunks).toString('utf8'), this.now());
    } catch (err) {
      const { code } = errorCode(err);
      return tokenNetworkFailure(code, code === 'FORBIDDEN_ADDRESS');
    }
  }

  async close(): Promise<void> {
    await this.agent.close().catch(() => {});
  }

  /** Cuts a token request in flight (it answers TOKEN_ENDPOINT_UNAVAILABLE). */
  destroy(): void {
    this.agent.destroy().catch(() => {});
  }
}
