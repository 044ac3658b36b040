// Checks, before a command starts, that the dependencies it needs answer: Kafka (connect and
// describe the cluster), Redis (PING) and the schema registry (list subjects). Each check is
// quick and quiet — no retry storm, no log lines — and a failure becomes one DependencyError
// naming the dependency, its address and why, well within 15 s.
import { Redis } from 'ioredis';
import { logLevel } from 'kafkajs';
import { maskUrl } from '../config/mask.ts';
import type { CourierConfig } from '../config/schema.ts';
import { DependencyError, type DependencyName } from '../errors.ts';
import { createKafka } from '../kafka/client.ts';
import type { Logger } from '../telemetry/logger.ts';

export type Dependency = 'kafka' | 'redis' | 'registry';

export interface PreflightOptions {
  config: CourierConfig;
  logger: Logger;
  /** How long one dependency may take to answer; the checks run side by side. */
  timeoutMs?: number;
}

const ERRNO_REASONS: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ENOTFOUND: 'host not found',
  EAI_AGAIN: 'host name lookup failed (temporary DNS failure)',
  ETIMEDOUT: 'connection timed out',
  ECONNRESET: 'connection reset',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  EPIPE: 'connection closed',
  DEPTH_ZERO_SELF_SIGNED_CERT: 'TLS: self-signed certificate',
  SELF_SIGNED_CERT_IN_CHAIN: 'TLS: self-signed certificate in the chain',
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: 'TLS: certificate cannot be verified',
  CERT_HAS_EXPIRED: 'TLS: certificate has expired',
  ERR_TLS_CERT_ALTNAME_INVALID: 'TLS: certificate does not match the host name',
};

/** Error class names of the clients (kafkajs, fetch) that say enough by themselves. */
const NAME_REASONS: Record<string, string> = {
  KafkaJSSASLAuthenticationError: 'authentication failed',
  KafkaJSConnectionClosedError: 'connection closed',
  KafkaJSRequestTimeoutError: 'request timed out',
  TimeoutError: 'no answer in time',
};

/** The errors behind `err`, outermost first: `cause`, kafkajs' `originalError`, AggregateError's list. */
function chain(err: unknown): Error[] {
  const out: Error[] = [];
  const queue: unknown[] = [err];
  while (queue.length > 0 && out.length < 10) {
    const e = queue.shift();
    if (!(e instanceof Error) || out.includes(e)) continue;
    out.push(e);
    const o = e as Error & { originalError?: unknown; errors?: unknown[] };
    queue.push(o.cause, o.originalError, ...(Array.isArray(o.errors) ? o.errors : []));
  }
  return out;
}

/** A short, human reason for a connection failure: "connection refused", "host not found", … */
export function reasonOf(err: unknown): string {
  const errors = chain(err);
  for (const e of errors) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && ERRNO_REASONS[code]) return ERRNO_REASONS[code];
    if (typeof code === 'string' && code.startsWith('ERR_TLS')) return `TLS: ${e.message}`;
    if (NAME_REASONS[e.name]) return NAME_REASONS[e.name] as string;
  }
  const innermost = errors.at(-1);
  return innermost ? (innermost.message.split('\n')[0] ?? innermost.message) : String(err);
}

function withDeadline<T>(work: Promise<T>, timeoutMs: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(
      () => reject(new Error(`no answer within ${Math.round(timeoutMs / 1000)} s`)),
      timeoutMs,
    );
  });
  return Promise.race([work, late]).finally(() => clearTimeout(timer));
}

async function check(
  dependency: DependencyName,
  address: string,
  timeoutMs: number,
  probe: () => Promise<void>,
): Promise<void> {
  try {
    await withDeadline(probe(), timeoutMs);
  } catch (err) {
    if (err instanceof DependencyError) throw err;
    throw new DependencyError({ dependency, address, reason: reasonOf(err), cause: err });
  }
}

export async function checkKafka(config: CourierConfig, logger: Logger, timeoutMs: number): Promise<void> {
  // createKafka keeps whatever connection settings the configuration has (TLS, SASL); only the
  // patience and the logging are the preflight's own.
  const kafka = createKafka(config, logger, {
    connectionTimeout: Math.min(3000, timeoutMs),
    requestTimeout: Math.min(5000, timeoutMs),
    retry: { retries: 2, initialRetryTime: 250, maxRetryTime: 1000 },
    logLevel: logLevel.NOTHING,
  });
  const admin = kafka.admin();
  try {
    await check('Kafka', config.kafka.brokers.join(','), timeoutMs, async () => {
      await admin.connect();
      await admin.describeCluster();
    });
  } finally {
    await admin.disconnect().catch(() => {});
  }
}

export async function checkRedis(url: string, timeoutMs: number): Promise<void> {
  let lastError: unknown;
  const redis = new Redis(url, {
    lazyConnect: true,
    connectTimeout: Math.min(3000, timeoutMs),
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    enableOfflineQueue: false,
  });
  // Keeps ioredis from printing "Unhandled error event"; the error is reported below.
  redis.on('error', (err) => {
    lastError = err;
  });
  const parsed = new URL(url);
  const address = `${parsed.hostname}:${parsed.port || '6379'}`;
  try {
    await check('Redis', address, timeoutMs, async () => {
      try {
        await redis.connect();
        await redis.ping();
      } catch (err) {
        // ioredis rejects with "Connection is closed."; the socket's own error says why.
        throw lastError ?? err;
      }
    });
  } finally {
    redis.disconnect();
  }
}

export async function checkRegistry(url: string, timeoutMs: number): Promise<void> {
  const address = maskUrl(url);
  await check('the schema registry', address, timeoutMs, async () => {
    const response = await fetch(new URL(`${url.replace(/\/+$/, '')}/subjects`), {
      signal: AbortSignal.timeout(timeoutMs),
    });
    await response.body?.cancel();
    if (response.status === 401 || response.status === 403) {
      throw new DependencyError({
        dependency: 'the schema registry',
        address,
        reason: `credentials refused (HTTP ${response.status})`,
      });
    }
    if (response.status >= 500) {
      throw new DependencyError({
        dependency: 'the schema registry',
        address,
        reason: `answered HTTP ${response.status}`,
      });
    }
  });
}

/** Checks every dependency in `needs` side by side; throws the first failure in Kafka, Redis, registry order. */
export async function preflight(needs: ReadonlySet<Dependency>, options: PreflightOptions): Promise<void> {
  const { config, logger } = options;
  const timeoutMs = options.timeoutMs ?? 10_000;
  const checks: Promise<void>[] = [];
  if (needs.has('kafka')) checks.push(checkKafka(config, logger, timeoutMs));
  if (needs.has('redis')) checks.push(checkRedis(config.redis.url, timeoutMs));
  if (needs.has('registry') && config.schemaRegistry) {
    checks.push(checkRegistry(config.schemaRegistry.url, timeoutMs));
  }
  const results = await Promise.allSettled(checks);
  for (const r of results) if (r.status === 'rejected') throw r.reason;
}
