// Typed pipeline events. Stages emit; logs, the attempt log, metrics and tests subscribe.
import { EventEmitter } from 'node:events';

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
  errorClass?: string;
  nextAttemptAt?: string;
  responseSnippet?: string;
  replay: boolean;
  /** Set on auth failures: the destination was paused and an operator must act. */
  alert?: 'destination-paused-auth';
  /**
   * When the event entered Kafka (ISO-8601): the event's `time` attribute or the Kafka timestamp
   * of its record; feeds the produce→delivered latency.
   */
  producedAt?: string;
  /**
   * The signature-relevant request headers of this attempt, so that a signature mismatch can be
   * checked after the fact. Never Authorization nor any configured header.
   */
  request?: { webhookId: string; webhookTimestamp: string; webhookSignature: string };
}

export interface PipelineEvents {
  attempt: [AttemptRecord];
  routed: [{ eventId: string; eventType: string; destinations: string[] }];
  invalid: [{ reason: string; message: string; partition: number; offset: string }];
  'breaker-open': [{ destination: string }];
  'breaker-half-open': [{ destination: string }];
  'breaker-close': [{ destination: string }];
  paused: [{ destination: string; reason: string; until?: number }];
  resumed: [{ destination: string }];
  dlq: [{ destination: string; eventId: string; errorClass: string }];
  forwarded: [{ destination: string; count: number }];
  /** A destination's oldest undelivered message is older than half its topic's retention. */
  'retention-risk': [{ destination: string; partition: number; ageMs: number; retentionMs: number }];
  /**
   * A delivery waited for the destination's rate limit (emitted once per wait, with how long it
   * waited). Not emitted by the current actor yet: the new delivery gate emits it.
   */
  'rate-limited': [{ destination: string; waitMs: number }];
}

export class PipelineEmitter extends EventEmitter<PipelineEvents> {}
