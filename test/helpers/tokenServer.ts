// A small OAuth2 token endpoint on loopback (RFC 6749 §4.4): form-encoded client-credentials
// requests, client_secret_basic or client_secret_post, `expires_in`, error JSON (§5.2). The test
// can shorten lifetimes, expire every issued token early, revoke the client, or answer 503.
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface TokenRequestSeen {
  at: number;
  clientAuth: 'client_secret_basic' | 'client_secret_post' | 'none';
  form: Record<string, string>;
  status: number;
}

export interface TokenServer {
  url: string;
  requests: TokenRequestSeen[];
  /** Tokens issued, in order. */
  issued: string[];
  /** Whether a bearer token is one this server issued and it has not expired. */
  valid(token: string | undefined): boolean;
  setLifetimeSeconds(seconds: number): void;
  /** Every token issued so far stops being valid now. */
  expireAll(): void;
  setRevoked(revoked: boolean): void;
  setDown(down: boolean): void;
  close(): Promise<void>;
}

export interface TokenServerOptions {
  clientId: string;
  clientSecret: string;
  lifetimeSeconds?: number;
}

function formDecode(s: string): string {
  return decodeURIComponent(s.replace(/\+/g, ' '));
}

export async function startTokenServer(options: TokenServerOptions): Promise<TokenServer> {
  let lifetime = options.lifetimeSeconds ?? 3600;
  let revoked = false;
  let down = false;
  const expiries = new Map<string, number>();
  const requests: TokenRequestSeen[] = [];
  const issued: string[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const form = Object.fromEntries(new URLSearchParams(Buffer.concat(chunks).toString('utf8')));
      const answer = (
        status: number,
        body: Record<string, unknown>,
        headers: Record<string, string> = {},
      ) => {
        requests.push({ at: Date.now(), clientAuth, form, status });
        res.writeHead(status, {
          'content-type': 'application/json',
          'cache-control': 'no-store',
          ...headers,
        });
        res.end(JSON.stringify(body));
      };
      let clientAuth: TokenRequestSeen['clientAuth'] = 'none';
      let id: string | undefined;
      let secret: string | undefined;
      const basic = /^Basic (.+)$/i.exec(req.headers.authorization ?? '');
      if (basic) {
        clientAuth = 'client_secret_basic';
        const [u = '', p = ''] = Buffer.from(basic[1] as string, 'base64')
          .toString('utf8')
          .split(':');
        [id, secret] = [formDecode(u), formDecode(p)];
      } else if (form.client_id !== undefined) {
        clientAuth = 'client_secret_post';
        [id, secret] = [form.client_id, form.client_secret];
      }
      if (down) return answer(503, { error: 'temporarily_unavailable' });
      if (
        req.method !== 'POST' ||
        !String(req.headers['content-type']).startsWith('application/x-www-form-urlencoded')
      )
        return answer(400, { error: 'invalid_request' });
      if (form.grant_type !== 'client_credentials') return answer(400, { error: 'unsupported_grant_type' });
      if (revoked || id !== options.clientId || secret !== options.clientSecret) {
        return basic
          ? answer(401, { error: 'invalid_client' }, { 'www-authenticate': 'Basic realm="token"' })
          : answer(400, { error: 'invalid_client' });
      }
      const token = `tok_${randomBytes(18).toString('hex')}`;
      issued.push(token);
      expiries.set(token, Date.now() + lifetime * 1000);
      answer(200, { access_token: token, token_type: 'Bearer', expires_in: lifetime });
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/oauth/token`,
    requests,
    issued,
    valid: (token) => token !== undefined && (expiries.get(token) ?? 0) > Date.now(),
    setLifetimeSeconds: (s) => {
      lifetime = s;
    },
    expireAll: () => {
      for (const t of expiries.keys()) expiries.set(t, 0);
    },
    setRevoked: (r) => {
      revoked = r;
    },
    setDown: (d) => {
      down = d;
    },
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** The bearer token of a request's headers. */
export function bearerOf(headers: { authorization?: string | string[] | undefined }): string | undefined {
  const value = Array.isArray(headers.authorization) ? headers.authorization[0] : headers.authorization;
  return /^Bearer (.+)$/.exec(value ?? '')?.[1];
}
