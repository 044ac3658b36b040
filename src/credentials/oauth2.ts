// OAuth2 client-credentials credentials of one destination. The access token lives in Redis
// (`{<prefix>:<destination>}:oauth`) so every instance uses the same one; one refresh at a time
// across instances: a lock (SET NX PX with an owner token, released by compare-and-delete in
// ../redis/lua/releaseTokenLock-1.lua) lets one instance call the token endpoint while the others keep using
// the still-valid token or wait for the new one — no stampede. Within a process, concurrent
// callers share one refresh. Tokens are replaced ahead of their expiry (see refreshAt).
import { randomUUID } from 'node:crypto';
import { CourierError } from '../errors.ts';
import type { CourierRedis } from '../redis/client.ts';
import { redisKeys } from '../redis/keys.ts';
import type { Logger } from '../telemetry/logger.ts';
import type { CredentialExpiry } from './expiry.ts';
import { isUsable, refreshAt, type Token, type TokenResult, tokenFailure } from './tokenResponse.ts';
import type { AuthorizeOptions, AuthorizeResult, DestinationCredentials } from './types.ts';

/**
 * Where a destination's token and its refresh lock live: `{<prefix>:<destination>}:oauth[:lock]`,
 * the hash-tag scheme of the destination's other keys (one Redis Cluster slot per destination).
 */
/** The shared token's key and its refresh lock's. */
export function oauthKeys(prefix: string, destination: string): { token: string; lock: string } {
  const keys = redisKeys(prefix);
  return { token: keys.oauthToken(destination), lock: keys.oauthLock(destination) };
}

/** Reads a cached token as stored; undefined when absent or unreadable. */
export function parseCachedToken(raw: string | null): Token | undefined {
  if (!raw) return undefined;
  try {
    const t = JSON.parse(raw) as Partial<Token>;
    if (
      typeof t.accessToken === 'string' &&
      typeof t.expiresAt === 'number' &&
      typeof t.fetchedAt === 'number'
    )
      return { accessToken: t.accessToken, expiresAt: t.expiresAt, fetchedAt: t.fetchedAt };
  } catch {
    // fall through
  }
  return undefined;
}

export interface TokenSource {
  fetchToken(): Promise<TokenResult>;
  close(): Promise<void>;
  /** Cuts a request in flight. */
  destroy(): void;
}

export interface OAuth2CredentialsOptions {
  destination: string;
  redis: CourierRedis;
  /** The Redis key prefix (the topic prefix). */
  keyPrefix: string;
  endpoint: TokenSource;
  refreshBeforeMs: number;
  /** How long the refresh lock is held at most: longer than one token request. */
  lockMs: number;
  logger?: Logger;
  now?: () => number;
  /** How often a waiting instance looks for the token another one is fetching. */
  waitPollMs?: number;
}

export class OAuth2Credentials implements DestinationCredentials {
  readonly refreshable = true;
  private readonly options: OAuth2CredentialsOptions;
  private readonly redis: CourierRedis;
  private readonly keys: { token: string; lock: string };
  private readonly now: () => number;
  private local: Token | undefined;
  /** A stop cut what was under way: no new token request, no more waiting for another instance's. */
  private aborted = false;
  /** In-process single flight, by the token that is being replaced ('' for none). */
  private readonly obtaining = new Map<string, Promise<TokenResult>>();

  constructor(options: OAuth2CredentialsOptions) {
    this.options = options;
    this.now = options.now ?? Date.now;
    this.keys = oauthKeys(options.keyPrefix, options.destination);
    this.redis = options.redis;
  }

  async authorize(o: AuthorizeOptions = {}): Promise<AuthorizeResult> {
    const local = this.local;
    if (!o.forceRefresh && local && this.now() < refreshAt(local, this.options.refreshBeforeMs)) {
      return bearer(local);
    }
    // The token the receiver refused: the one in the headers it was sent with, else ours.
    const refused = o.rejectedHeaders?.authorization?.replace(/^Bearer /, '') ?? local?.accessToken;
    if (
      o.forceRefresh &&
      local &&
      refused !== local.accessToken &&
      this.now() < refreshAt(local, this.options.refreshBeforeMs)
    ) {
      return bearer(local); // already replaced since that request went out
    }
    const replacing = o.forceRefresh ? (refused ?? '') : '';
    let pending = this.obtaining.get(replacing);
    if (!pending) {
      pending = this.obtain(o.forceRefresh ? refused : undefined).finally(() =>
        this.obtaining.delete(replacing),
      );
      this.obtaining.set(replacing, pending);
    }
    const result = await pending;
    if (!result.ok) return result;
    return bearer(result);
  }

  async expiry(): Promise<CredentialExpiry[]> {
    const token = this.local ?? parseCachedToken(await this.redis.get(this.keys.token));
    return token ? [{ kind: 'oauth2-token', expiresAt: token.expiresAt }] : [];
  }

  async close(): Promise<void> {
    await this.options.endpoint.close();
  }

  abort(): void {
    this.aborted = true;
    this.options.endpoint.destroy();
  }

  /** A token that is not `rejected` and not due for refresh, from Redis. */
  private async fresh(rejected: string | undefined): Promise<Token | undefined> {
    const cached = parseCachedToken(await this.redis.get(this.keys.token));
    if (!cached || cached.accessToken === rejected) return undefined;
    return this.now() < refreshAt(cached, this.options.refreshBeforeMs) ? cached : undefined;
  }

  private async obtain(rejected: string | undefined): Promise<TokenResult> {
    const deadline = this.now() + 2 * this.options.lockMs;
    for (;;) {
      const cached = await this.fresh(rejected);
      if (cached) return this.use(cached);
      if (this.aborted) return tokenFailure('TOKEN_ENDPOINT_UNAVAILABLE', 'stopping: no token request made');
      const owner = randomUUID();
      const locked = await this.redis.set(this.keys.lock, owner, 'PX', this.options.lockMs, 'NX');
      if (locked === 'OK') {
        try {
          // Someone may have stored a new token between our read and our lock.
          const again = await this.fresh(rejected);
          if (again) return this.use(again);
          return await this.fetchAndStore();
        } finally {
          await this.redis.releaseTokenLock(this.keys.lock, owner);
        }
      }
      // Another instance is refreshing: a still-valid token serves meanwhile, else wait for theirs.
      const current = parseCachedToken(await this.redis.get(this.keys.token));
      if (current && current.accessToken !== rejected && isUsable(current, this.now()))
        return this.use(current);
      for (;;) {
        if (this.now() > deadline || this.aborted) {
          return tokenFailure(
            'TOKEN_ENDPOINT_UNAVAILABLE',
            'timed out waiting for another instance to refresh the access token',
          );
        }
        await new Promise((r) => setTimeout(r, this.options.waitPollMs ?? 50));
        const theirs = await this.fresh(rejected);
        if (theirs) return this.use(theirs);
        if ((await this.redis.exists(this.keys.lock)) === 0) break; // they failed or gave up: try ourselves
      }
    }
  }

  private async fetchAndStore(): Promise<TokenResult> {
    const result = await this.options.endpoint.fetchToken();
    if (!result.ok) {
      this.options.logger?.warn({ code: result.code, kind: result.kind }, result.message);
      return result;
    }
    const ttl = Math.max(1, result.expiresAt - this.now());
    const token: Token = {
      accessToken: result.accessToken,
      fetchedAt: result.fetchedAt,
      expiresAt: result.expiresAt,
    };
    try {
      await this.redis.set(this.keys.token, JSON.stringify(token), 'PX', ttl);
    } catch (err) {
      // An ioredis error carries the command's arguments (the token): only its code goes on.
      const code = (err as { code?: unknown })?.code;
      throw new CourierError('TOKEN_CACHE_FAILED', 'could not store the access token in Redis', {
        retriable: true,
        cause: typeof code === 'string' ? { code } : {},
      });
    }
    this.options.logger?.debug(
      { expiresAt: new Date(token.expiresAt).toISOString() },
      'access token refreshed',
    );
    return this.use(token);
  }

  private use(token: Token): TokenResult {
    this.local = token;
    return { ok: true, ...token };
  }
}

function bearer(token: Token): AuthorizeResult {
  return { ok: true, headers: { authorization: `Bearer ${token.accessToken}` } };
}
