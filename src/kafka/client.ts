// The Kafka client: one kafkajs instance per process, its log lines routed into pino.

import {
  type Consumer,
  Kafka,
  type KafkaConfig,
  type LogEntry,
  logLevel,
  Partitioners,
  type Producer,
} from 'kafkajs';
import type { CourierConfig } from '../config/schema.ts';
import { tlsOptions } from '../config/tls.ts';
import type { Logger } from '../telemetry/logger.ts';
import { saslOptions } from './auth.ts';
import { patchKafkajs } from './kafkajsPatches.ts';

const LEVELS: Record<number, 'error' | 'warn' | 'info' | 'debug'> = {
  [logLevel.ERROR]: 'error',
  [logLevel.WARN]: 'warn',
  [logLevel.INFO]: 'info',
  [logLevel.DEBUG]: 'debug',
};

const ROUTINE_ERRORS = /rebalanc|not the correct coordinator|coordinator is (loading|not available)/i;

export function createKafka(
  config: CourierConfig,
  logger: Logger,
  overrides: Partial<KafkaConfig> = {},
): Kafka {
  const kafkaLog = logger.child({ component: 'kafkajs' });
  const patched = patchKafkajs();
  if (!patched.requestQueue || !patched.fetchWait)
    kafkaLog.warn(
      { patched },
      'kafkajs internals not as expected: running it unrepaired (see kafka/kafkajsPatches.ts)',
    );
  const { ssl, sasl } = config.kafka;
  return new Kafka({
    clientId: config.kafka.clientId,
    brokers: config.kafka.brokers,
    // TLS and SASL through kafkajs' own options (SASL without TLS is SASL_PLAINTEXT).
    ...(ssl ? { ssl: ssl === true ? true : tlsOptions(ssl) } : {}),
    ...(sasl ? { sasl: saslOptions(sasl) } : {}),
    connectionTimeout: 3000,
    requestTimeout: 30000,
    // Backoff capped at 1 s (the Java client's reconnect.backoff.max.ms): a broker back after a
    // restart is found within a second, not after kafkajs' default 30 s cap.
    retry: { initialRetryTime: 200, maxRetryTime: 1000, retries: 8 },
    // kafkajs is chatty at info (every group join); keep its warnings and errors.
    logLevel: logLevel.WARN,
    logCreator:
      () =>
      ({ namespace, level, log }: LogEntry) => {
        const { message, timestamp: _t, logger: _l, ...rest } = log;
        // kafkajs logs the broker's answers during an ordinary rebalance or coordinator move as
        // errors; they are expected and retried, so they stay at debug.
        const routine = typeof rest.error === 'string' && ROUTINE_ERRORS.test(rest.error);
        kafkaLog[routine ? 'debug' : (LEVELS[level] ?? 'info')]({ namespace, ...rest }, message);
      },
    ...overrides,
  });
}

/**
 * An idempotent producer (each role has its own): acks from all replicas (set per send), retries
 * without a cap (kafkajs' own default for idempotence), the Java client's partitioner so keys
 * land where users' Java producers would put them.
 */
export function createProducer(kafka: Kafka): Producer {
  return kafka.producer({
    idempotent: true,
    maxInFlightRequests: 5,
    allowAutoTopicCreation: false,
    createPartitioner: Partitioners.DefaultPartitioner,
    retry: { retries: Number.MAX_SAFE_INTEGER, initialRetryTime: 200, maxRetryTime: 1000 },
  });
}

/**
 * How a consumer retries a failing fetch or join: at most a second apart, for about a minute,
 * so that a broker restart does not crash it. A crashed consumer is restarted by kafkajs as a
 * new group member, and the group then waits for the old member's session to expire (up to
 * `sessionTimeoutMs`) before anyone consumes again.
 */
export const CONSUMER_RETRY = { initialRetryTime: 200, maxRetryTime: 1000, retries: 60 } as const;

/**
 * Session timeout and a heartbeat well inside it, for every Courier consumer group. A member
 * learns of a rebalance from its next heartbeat, so the interval bounds how long a group waits
 * for its running members when an instance joins or leaves: 1 s (kafkajs' default is 3 s) keeps
 * a scale-out's pause per destination short, for one small request per consumer per second.
 */
export function sessionSettings(sessionTimeoutMs = 30_000): {
  sessionTimeout: number;
  heartbeatInterval: number;
} {
  return {
    sessionTimeout: sessionTimeoutMs,
    heartbeatInterval: Math.min(1000, Math.floor(sessionTimeoutMs / 4)),
  };
}

/**
 * A role's consumer (the router's, the delay consumer's, a destination's): its group, the
 * session and heartbeat above, CONSUMER_RETRY, and how long a fetch waits and takes.
 */
export function roleConsumer(
  kafka: Kafka,
  options: {
    groupId: string;
    sessionTimeoutMs?: number | undefined;
    maxWaitTimeInMs: number;
    maxBytesPerPartition?: number;
    maxBytes?: number;
  },
): Consumer {
  return kafka.consumer({
    groupId: options.groupId,
    maxWaitTimeInMs: options.maxWaitTimeInMs,
    ...(options.maxBytesPerPartition ? { maxBytesPerPartition: options.maxBytesPerPartition } : {}),
    ...(options.maxBytes ? { maxBytes: options.maxBytes } : {}),
    ...sessionSettings(options.sessionTimeoutMs),
    retry: { ...CONSUMER_RETRY },
  });
}
