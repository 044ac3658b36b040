// Which egress proxy a request goes through, if any: a destination's own `proxy` (a URL, or false
// for direct), else `network.proxy` (a URL, or false to ignore the environment), else the
// conventional HTTPS_PROXY / HTTP_PROXY environment variables (lower case too); hosts matching
// NO_PROXY or `network.noProxy` go direct unless the destination names its own proxy. Pure.
import { isIP } from 'node:net';

export interface EgressRules {
  /** The destination's own setting, when it has one. */
  destinationProxy?: string | false;
  /** `network.proxy`. */
  networkProxy?: string | false;
  /** `network.noProxy`, added to NO_PROXY. */
  noProxy: readonly string[];
  env: Readonly<Record<string, string | undefined>>;
}

function envValue(env: EgressRules['env'], name: string): string | undefined {
  const v = env[name] ?? env[name.toLowerCase()];
  return v && v.trim() !== '' ? v.trim() : undefined;
}

/**
 * Whether NO_PROXY-style entries exempt a host: `*`; a domain (`example.com` or `.example.com`:
 * it and its subdomains); an IP literal; any of those with `:port` for that port only.
 */
export function bypassesProxy(hostname: string, port: string, entries: readonly string[]): boolean {
  const host = hostname.toLowerCase().replace(/^\[|\]$/g, '');
  for (const raw of entries) {
    const entry = raw.trim().toLowerCase();
    if (entry === '') continue;
    if (entry === '*') return true;
    let name = entry;
    let entryPort: string | undefined;
    const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(entry);
    if (bracketed) {
      name = bracketed[1] as string;
      entryPort = bracketed[2];
    } else if (isIP(entry) !== 6) {
      const m = /^(.*):(\d+)$/.exec(entry);
      if (m) {
        name = m[1] as string;
        entryPort = m[2];
      }
    }
    if (entryPort !== undefined && entryPort !== port) continue;
    if (isIP(name) !== 0 || isIP(host) !== 0) {
      if (name === host) return true;
      continue;
    }
    const domain = name.replace(/^\*?\./, '');
    if (host === domain || host.endsWith(`.${domain}`)) return true;
  }
  return false;
}

/** The proxy URL a request to `url` goes through, or undefined for a direct connection. */
export function proxyFor(url: string, rules: EgressRules): string | undefined {
  if (rules.destinationProxy === false) return undefined;
  if (typeof rules.destinationProxy === 'string') return rules.destinationProxy;
  if (rules.networkProxy === false) return undefined;
  const target = new URL(url);
  const port = target.port || (target.protocol === 'https:' ? '443' : '80');
  const noProxy = [...(envValue(rules.env, 'NO_PROXY')?.split(',') ?? []), ...rules.noProxy];
  if (bypassesProxy(target.hostname, port, noProxy)) return undefined;
  if (typeof rules.networkProxy === 'string') return rules.networkProxy;
  return target.protocol === 'https:'
    ? (envValue(rules.env, 'HTTPS_PROXY') ?? envValue(rules.env, 'HTTP_PROXY'))
    : envValue(rules.env, 'HTTP_PROXY');
}

/** A proxy URL for logs: its credentials masked. */
export function describeProxy(proxy: string): string {
  const u = new URL(proxy);
  if (u.username || u.password) {
    u.username = '***';
    u.password = '';
  }
  return u.toString().replace(/\/$/, '');
}

/** The egress rules of a destination from its configuration and the environment. */
export function egressRules(
  network: { proxy?: string | false; noProxy: readonly string[] },
  destinationProxy: string | false | undefined,
  env: Readonly<Record<string, string | undefined>>,
): EgressRules {
  return {
    ...(destinationProxy === undefined ? {} : { destinationProxy }),
    ...(network.proxy === undefined ? {} : { networkProxy: network.proxy }),
    noProxy: network.noProxy,
    env,
  };
}

/**
 * The proxy a destination's requests to `url` go through (its delivery URL, or its OAuth2 token
 * endpoint), if any: its `proxy`, else `network.proxy`, else the environment's HTTPS_PROXY and
 * NO_PROXY.
 */
export function destinationProxy(
  network: { proxy?: string | false; noProxy: readonly string[] },
  destination: { proxy?: string | false | undefined },
  url: string,
  env: Readonly<Record<string, string | undefined>> = process.env,
): string | undefined {
  return proxyFor(url, egressRules(network, destination.proxy, env));
}
