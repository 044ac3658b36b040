// Typed pipeline events. Stages emit; logs, the attempt log, metrics and tests subscribe.
import { EventEmitter } from 'node:events';
import type { AuthCase, DeadLetterClass, PauseReason } from '../policy/failures.ts';

export type AttemptOutcome = 'delivered' | 'retry' | 'dlq' | 'paused' | 'duplicate-skipped';

export interface AttemptRecord {
  eventId: string;
  eventType?: string;
  destination: string;
  attempt: number;
  /** When the request was sent (ISO-8601); for a skipped duplicate, when it was skipped. */
  at: string;
  status?: number;
  errorCode?: string;
  error?: string;
  latencyMs: number;
  outcome: AttemptOutcome;
  errorClass?: DeadLetterClass;
  nextAttemptAt?: string;
  responseSnippet?: string;
  replay: boolean;
  /** Set when the attempt paused its destination (401, 403, 410, revoked credentials): an operator must act. */
  alert?: 'destination-paused';
  /** Why it paused: auth-rejected · forbidden · auth-revoked · gone. */
  pauseReason?: PauseReason;
  /**
   * When the event entered Kafka (ISO-8601): the Kafka timestamp of its record, as early as known;
   * feeds the produce→delivered latency.
   */
  producedAt?: string;
  /**
   * Where the time of this attempt went, epoch ms (fractional where Courier took it): the
   * destination record written by the router (its Kafka timestamp), fetched by the deliverer,
   * admitted (the delivered-key claim and a rate-limit permit), answered. The request was sent
   * at `at`; the record itself was written at its own Kafka timestamp.
   */
  timings?: { routedAt: number; fetchedAt?: number; admittedAt: number; answeredAt: number };
  /** The signature-relevant request headers, so a signature mismatch can be checked afterwards. */
  request?: { webhookId: string; webhookTimestamp: string; webhookSignature: string };
  /**
   * Where the exact body this attempt signed and sent is: the destination record it was sent from
   * (its value is the body). No copy of the payload is kept in the delivery log.
   */
  record?: { topic: string; partition: number; offset: number };
  /** The receiver may have processed it although no answer came (a timeout, a reset): a retry may duplicate it. */
  unknownOutcome?: true;
  /** The body was made by the destination's transform, not the CloudEvent itself. */
  transformed?: true;
  /** The trace of this attempt (tracing on): `courier inspect` prints it. */
  traceId?: string;
  /**
   * Strict ordering: the previous event of this one's key (this id) was dead-lettered, so the
   * receiver gets this one without it (a gap in the key's order).
   */
  afterGap?: string;
  /** The configuration version the event was routed under (the router's `courier-config-version`). */
  configVersion?: string;
  /**
   * Written again after a crash: this record had been delivered (the delivered-key set says by
   * this attempt) but its offset not committed, so its first record may be lost; status, latency
   * and request headers are unknown. A reader keeps the original when both exist.
   */
  rebuilt?: true;
  /**
   * The authentication case of this attempt: `expired` (a 401 answered by refreshing the OAuth2
   * token and sending again) · `rejected` · `forbidden` · `revoked` · `token-unavailable` (the
   * token endpoint could not be reached; retried later).
   */
  authCase?: AuthCase;
}

/** What every attempt record says: which event, where, which attempt, when, and how it ended. */
export interface AttemptBasis {
  eventId: string;
  eventType?: string | undefined;
  destination: string;
  attempt: number;
  /** Epoch ms. */
  at: number;
  outcome: AttemptOutcome;
  replay: boolean;
  configVersion?: string | undefined;
}

/**
 * The one way an attempt record is made (the deliverer's outcomes, its skipped duplicates and
 * rebuilt records, the router's dead letters): the basis, and what the outcome adds.
 */
export function attemptRecord(basis: AttemptBasis, extra: Partial<AttemptRecord> = {}): AttemptRecord {
  const { eventType, configVersion, at, ...rest } = basis;
  return {
    ...rest,
    ...(eventType ? { eventType } : {}),
    at: new Date(at).toISOString(),
    latencyMs: 0,
    ...(configVersion ? { configVersion } : {}),
    ...extra,
  };
}

export interface PipelineEvents {
  attempt: [AttemptRecord];
  /** An event fanned out: the destinations it went to, and those whose filter turned it away. */
  routed: [{ eventId: string; eventType: string; destinations: string[]; filtered?: string[] }];
  /** A destination's filter could not be evaluated for an event (it was not routed there). */
  'filter-failed': [{ destination: string; reason: string }];
  /** The adaptive timeout of a destination (`timeoutMs: auto`) moved, from the tail observed. */
  'timeout-adapted': [
    {
      destination: string;
      timeoutMs: number;
      fromMs: number;
      p99Ms: number;
      p999Ms: number;
      cause: 'latency' | 'timeout';
    },
  ];
  /** A delivery's TLS handshake showed this server certificate (notAfter in epoch ms). */
  'server-certificate': [{ destination: string; notAfter: number; subject: string; issuer: string }];
  /** This process noticed that Redis lost Courier's state (see redis/stateMarker.ts). */
  'redis-state-lost': [{ at: number }];
  /** A configuration version was applied: at start, or by a reload. */
  'config-applied': [{ version: string; at: number }];
  /** A reload was refused (restart-only fields) or failed (an invalid file): the old configuration runs on. */
  'config-rejected': [{ problems: string[] }];
  invalid: [{ reason: string; message: string; partition: number; offset: string }];
  'breaker-open': [{ destination: string }];
  'breaker-half-open': [{ destination: string }];
  'breaker-close': [{ destination: string }];
  paused: [{ destination: string; reason: string; until?: number }];
  resumed: [{ destination: string }];
  dlq: [{ destination: string; eventId: string; errorClass: DeadLetterClass }];
  forwarded: [{ destination: string; count: number }];
  /** Permits handed out after waiting for the destination's rate limit. */
  'rate-limited': [{ destination: string; waitedMs: number; permits: number }];
  /** A destination's oldest undelivered message is older than half its topic's retention. */
  'retention-risk': [{ destination: string; partition: number; ageMs: number; retentionMs: number }];
  /** A credential of a destination expires within its warning window (log code CREDENTIAL_EXPIRING). */
  'credential-expiring': [
    {
      destination: string;
      kind: 'oauth2-token' | 'client-certificate' | 'secret';
      /** Epoch ms. */
      expiresAt: number;
      daysLeft: number;
    },
  ];
}

export class PipelineEmitter extends EventEmitter<PipelineEvents> {}
