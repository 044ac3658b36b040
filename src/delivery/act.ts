// Applies decide()'s action through narrow ports: the delivered-key set, the retry sink, the
// dead-letter sink, the gate (pauses) and the attempt sink. It does not know Kafka topics or the
// DLQ's format: those are behind the ports.

import { RecordTooLargeError } from '../errors.ts';
import type { CarriedEvent, DeadLetter, RetryStamp } from '../kafka/records.ts';
import { authCaseOf } from '../policy/failures.ts';
import type { DeliveredKeySet } from '../redis/deliveredKeySet.ts';
import {
  type AttemptBasis,
  type AttemptOutcome,
  type AttemptRecord,
  attemptRecord,
  type PipelineEmitter,
} from '../telemetry/events.ts';
import type { Logger } from '../telemetry/logger.ts';
import type { Action } from './decide.ts';
import type { Delivery } from './deliver.ts';
import type { DeliveryGate } from './deliveryGate.ts';
import type { DeliveryMessage } from './message.ts';

/** Hands an event to the delay tier due at `retry.dueAt`; resolves once it is durably written. */
export interface RetrySink {
  schedule(event: CarriedEvent, retry: RetryStamp): Promise<unknown>;
}

/** Writes an event to its destination's DLQ; resolves once it is durably written. */
export interface DeadLetterSink {
  write(event: CarriedEvent, letter: DeadLetter): Promise<void>;
}

/** Takes every attempt record (the delivery log). */
export interface AttemptSink {
  record(attempt: AttemptRecord): void;
  /** Resolves true once every record so far is durably written: offsets are committed only then. */
  flushed?(): Promise<boolean>;
}

export interface ActionsOptions {
  destination: string;
  /** The destination topic the messages come from (attempt records say where each body is). */
  topic: string;
  deliveredKeys: DeliveredKeySet;
  gate: DeliveryGate;
  retries: RetrySink;
  deadLetters: DeadLetterSink;
  attempts: AttemptSink;
  events: PipelineEmitter;
  logger: Logger;
  /** Whether the destination keeps each key's order across retries (`ordering: strict`) now. */
  strict?: () => boolean;
  now?: () => number;
}

/** Keys whose last event was dead-lettered, remembered for their next record (at most this many). */
const MAX_GAPS = 10_000;

type Attempted = Extract<Delivery, { kind: 'attempted' }>;

/** The attempt record's `authCase`, when the attempt had to do with authentication. */
function authCase(d: Attempted): Pick<AttemptRecord, 'authCase'> {
  const found = authCaseOf(d.outcome, {
    refreshed: d.refreshed,
    ...(d.result.errorCode ? { errorCode: d.result.errorCode } : {}),
  });
  return found ? { authCase: found } : {};
}

export class Actions {
  private readonly options: ActionsOptions;
  private readonly now: () => number;
  /**
   * Events these actions delivered whose attempt record the delivery log has not confirmed yet
   * (event id → when): a second copy read meanwhile is a duplicate, not a crash's lost record.
   */
  private readonly awaitingRecord = new Map<string, number>();
  /** Ordering key → the event of it last dead-lettered (strict ordering: the next record says so). */
  private readonly gaps = new Map<string, string>();

  constructor(options: ActionsOptions) {
    this.options = options;
    this.now = options.now ?? Date.now;
  }

  /**
   * Applies the action; true when the message is finished (its offset may be committed), false
   * when it is kept for after a pause.
   */
  async apply(
    message: DeliveryMessage,
    attempt: { number: number; firstAttemptAt: number; delivery: Attempted },
    action: Action,
  ): Promise<boolean> {
    const { deliveredKeys, gate } = this.options;
    const { meta } = message;
    const { result } = attempt.delivery;
    const now = this.now();
    const last = {
      ...(result.status === undefined ? {} : { lastStatus: result.status }),
    };

    switch (action.kind) {
      case 'delivered':
        await deliveredKeys.markDelivered(meta.eventId, attempt.delivery.token, attempt.number);
        this.record(message, attempt, 'delivered');
        this.awaitRecord(message.meta.eventId);
        return true;

      case 'pause': {
        await deliveredKeys.release(meta.eventId, attempt.delivery.token);
        const first = await gate.pause(
          action.reason,
          result.status === undefined ? String(result.errorCode) : `HTTP ${result.status}`,
        );
        // Only the attempt that paused the destination alerts; those in flight beside it just wait.
        this.record(message, attempt, 'paused', {
          ...(first ? { alert: 'destination-paused' as const } : {}),
          pauseReason: action.reason,
        });
        return false;
      }

      case 'retry':
        await deliveredKeys.release(meta.eventId, attempt.delivery.token);
        if (action.pauseUntil !== undefined) await gate.pauseUntil(action.pauseUntil);
        if (
          !(await this.writtenUnlessTooLarge(() =>
            this.options.retries.schedule(message, {
              destination: this.options.destination,
              attempts: attempt.number,
              firstAttemptAt: attempt.firstAttemptAt,
              dueAt: action.dueAt,
              ...last,
              ...(result.errorCode ? { lastError: result.errorCode } : {}),
            }),
          ))
        )
          return this.apply(message, attempt, { kind: 'dead-letter', errorClass: 'too-large' });
        this.record(message, attempt, 'retry', { nextAttemptAt: new Date(action.dueAt).toISOString() });
        return true;

      case 'dead-letter': {
        await deliveredKeys.release(meta.eventId, attempt.delivery.token);
        if (action.pauseUntil !== undefined) await gate.pauseUntil(action.pauseUntil);
        const stored = await this.writtenUnlessTooLarge(() =>
          this.options.deadLetters.write(message, {
            destination: this.options.destination,
            eventId: meta.eventId,
            errorClass: action.errorClass,
            attempts: attempt.number,
            firstAttemptAt: attempt.firstAttemptAt,
            lastAttemptAt: now,
            ...last,
            ...(result.errorCode ? { lastError: `${result.errorCode}: ${result.errorMessage ?? ''}` } : {}),
            ...(result.snippet ? { responseSnippet: result.snippet } : {}),
          }),
        );
        if (!stored) {
          // Only when the DLQ topic's max.message.bytes is below the destination topic's: the
          // record stays on the destination topic (until its retention) and this line says so.
          this.options.logger.error(
            {
              code: 'RECORD_TOO_LARGE',
              destination: this.options.destination,
              eventId: meta.eventId,
              partition: message.partition,
              offset: message.offset,
            },
            'dead letter does not fit the DLQ topic; raise its max.message.bytes to match the destination topic',
          );
        }
        this.options.events.emit('dlq', {
          destination: this.options.destination,
          eventId: meta.eventId,
          errorClass: action.errorClass,
        });
        this.record(message, attempt, 'dlq', { errorClass: action.errorClass });
        this.gapAt(message);
        return true;
      }
    }
  }

  /**
   * A message held at the gate (its destination paused, its circuit open) until it reached a share
   * of its topic's retention: moved to the DLQ before Kafka would delete it, with why and since
   * when; replayed later like any dead letter. True once written (its offset may be committed).
   */
  rescueHeld(message: DeliveryMessage, held: { reason: string; retentionMs: number }): Promise<boolean> {
    const since = new Date(message.timestamp).toISOString();
    return this.moveAside(message, {
      errorClass: 'held-too-long',
      code: 'HELD_TOO_LONG',
      error: `HELD_TOO_LONG: held since ${since} (${held.reason}); moved to the DLQ before the topic's retention (${Math.round(held.retentionMs / 3_600_000)} h) would delete it`,
      log: { since, reason: held.reason },
      logMessage: 'held message moved to the DLQ before the topic retention deletes it',
    });
  }

  /**
   * A message processes died holding (claimed, never completed) `crashes` times: moved to the DLQ
   * (`crash-loop`) instead of being sent again, so the partition moves on; its claim is completed.
   */
  async crashLoop(message: DeliveryMessage, claim: { token: string; crashes: number }): Promise<boolean> {
    const moved = await this.moveAside(message, {
      errorClass: 'crash-loop',
      code: 'CRASH_LOOP',
      error: `CRASH_LOOP: processes delivering it died ${claim.crashes} times while it was in hand; moved aside unsent so the partition moves on`,
      log: { crashes: claim.crashes },
      logMessage: 'message moved to the DLQ: processes died holding it',
    });
    if (moved) await this.options.deliveredKeys.release(message.meta.eventId, claim.token);
    return moved;
  }

  /** Writes a message that was not sent (this time) to the DLQ, with its attempt record. */
  /**
   * Strict ordering: the attempt failed transiently and its next one is made here, in place, at
   * `dueAt` (the key's later events wait behind it): the claim is released, a Retry-After pause
   * applied, and the `retry` record written. Nothing goes to a retry topic.
   */
  async retryInPlace(
    message: DeliveryMessage,
    attempt: { number: number; firstAttemptAt: number; delivery: Attempted },
    action: Extract<Action, { kind: 'retry' }>,
  ): Promise<void> {
    await this.options.deliveredKeys.release(message.meta.eventId, attempt.delivery.token);
    if (action.pauseUntil !== undefined) await this.options.gate.pauseUntil(action.pauseUntil);
    this.record(message, attempt, 'retry', { nextAttemptAt: new Date(action.dueAt).toISOString() });
  }

  /** An event of this key was dead-lettered: under strict ordering its next record says so. */
  private gapAt(message: DeliveryMessage): void {
    this.gaps.delete(message.orderingKey);
    this.gaps.set(message.orderingKey, message.meta.eventId);
    if (this.gaps.size > MAX_GAPS) this.gaps.delete(this.gaps.keys().next().value as string);
  }

  /** The gap before this message's key, taken (said once), when the destination is strict. */
  private gapBefore(message: DeliveryMessage): Pick<AttemptRecord, 'afterGap'> {
    const after = this.gaps.get(message.orderingKey);
    if (after === undefined || after === message.meta.eventId || !this.options.strict?.()) return {};
    this.gaps.delete(message.orderingKey);
    return { afterGap: after };
  }

  private async moveAside(
    message: DeliveryMessage,
    letter: {
      errorClass: 'held-too-long' | 'crash-loop';
      code: string;
      error: string;
      log: Record<string, unknown>;
      logMessage: string;
    },
  ): Promise<boolean> {
    const { meta } = message;
    const now = this.now();
    const stored = await this.writtenUnlessTooLarge(() =>
      this.options.deadLetters.write(message, {
        destination: this.options.destination,
        eventId: meta.eventId,
        errorClass: letter.errorClass,
        attempts: meta.attemptsBefore,
        firstAttemptAt: meta.firstAttemptAt ?? message.timestamp,
        lastAttemptAt: now,
        lastError: letter.error,
      }),
    );
    if (!stored) return false;
    this.options.logger.error(
      {
        code: letter.code,
        eventId: meta.eventId,
        partition: message.partition,
        offset: message.offset,
        ...letter.log,
      },
      letter.logMessage,
    );
    this.options.events.emit('dlq', {
      destination: this.options.destination,
      eventId: meta.eventId,
      errorClass: letter.errorClass,
    });
    this.emit(
      attemptRecord(this.basis(message, meta.attemptsBefore, now, 'dlq'), {
        errorClass: letter.errorClass,
        errorCode: letter.code,
        error: letter.error,
        record: this.source(message),
      }),
    );
    this.gapAt(message);
    return true;
  }

  /** False when the write was refused because the record exceeds its topic's limit. */
  private async writtenUnlessTooLarge(write: () => Promise<unknown>): Promise<boolean> {
    try {
      await write();
      return true;
    } catch (err) {
      if (err instanceof RecordTooLargeError) return false;
      throw err;
    }
  }

  /**
   * The delivery log has the records of these deliveries (their marks are confirmed). Entries
   * whose confirmation never came (Redis unreachable) are dropped after a minute.
   */
  recorded(eventIds: readonly string[]): void {
    for (const id of eventIds) this.awaitingRecord.delete(id);
  }

  private awaitRecord(eventId: string): void {
    const now = this.now();
    this.awaitingRecord.delete(eventId);
    this.awaitingRecord.set(eventId, now);
    for (const [id, at] of this.awaitingRecord) {
      if (at > now - 60_000) break;
      this.awaitingRecord.delete(id);
    }
  }

  /**
   * A message the delivered-key set says was delivered: recorded, nothing sent. When that
   * delivery's attempt record was never confirmed written (the mark is still unconfirmed) and it
   * was this very attempt, the process that made it died before the delivery log had it: the
   * `delivered` record is written again from what the delivered-key set knows, marked `rebuilt`
   * (no status or latency: those died with the process). A copy read while these actions's own
   * record of that delivery is still on its way is a plain duplicate.
   */
  skipped(
    message: DeliveryMessage,
    mark: { deliveredBy: number; unconfirmed: boolean } = { deliveredBy: 0, unconfirmed: false },
  ): void {
    const attempt = message.meta.attemptsBefore + 1;
    const lost =
      mark.unconfirmed &&
      mark.deliveredBy === attempt &&
      !message.meta.force &&
      !this.awaitingRecord.has(message.meta.eventId);
    if (lost) {
      const basis = this.basis(message, attempt, this.now(), 'delivered');
      this.emit(attemptRecord(basis, { record: this.source(message), rebuilt: true }));
      return;
    }
    const basis = this.basis(message, message.meta.attemptsBefore, this.now(), 'duplicate-skipped');
    // No configuration version: the copy skipped was not routed by the version that delivered it.
    this.emit(attemptRecord({ ...basis, configVersion: undefined }));
  }

  /** What every record of this message says (its configuration version, when routed under one). */
  private basis(
    message: DeliveryMessage,
    attempt: number,
    at: number,
    outcome: AttemptOutcome,
  ): AttemptBasis {
    const { meta } = message;
    return {
      eventId: meta.eventId,
      eventType: meta.eventType,
      destination: this.options.destination,
      attempt,
      at,
      outcome,
      replay: meta.replay !== undefined,
      configVersion: meta.configVersion,
    };
  }

  /** The destination record a message was read from (its value is the body sent). */
  private source(message: DeliveryMessage): AttemptRecord['record'] {
    return { topic: this.options.topic, partition: message.partition, offset: message.offset };
  }

  private record(
    message: DeliveryMessage,
    attempt: { number: number; delivery: Attempted },
    outcome: AttemptOutcome,
    extra: Partial<AttemptRecord> = {},
  ): void {
    const { result, sentAt, request } = attempt.delivery;
    const gap = outcome === 'dlq' ? {} : this.gapBefore(message);
    // When the attempt was made (`sentAt`), not when its outcome was written down.
    this.emit(
      attemptRecord(this.basis(message, attempt.number, sentAt, outcome), {
        latencyMs: result.latencyMs,
        ...(result.status === undefined ? {} : { status: result.status }),
        ...(result.errorCode ? { errorCode: result.errorCode, error: result.errorMessage ?? '' } : {}),
        ...(result.snippet ? { responseSnippet: result.snippet } : {}),
        request,
        record: this.source(message),
        ...(message.meta.transformed ? { transformed: true as const } : {}),
        ...(attempt.delivery.traceId ? { traceId: attempt.delivery.traceId } : {}),
        ...(attempt.delivery.outcome.kind === 'transient' && attempt.delivery.outcome.ambiguous
          ? { unknownOutcome: true as const }
          : {}),
        ...authCase(attempt.delivery),
        // Retries are re-written to the topic: the first attempt bounds when the event entered Kafka.
        producedAt: new Date(
          Math.min(message.timestamp, message.meta.firstAttemptAt ?? message.timestamp),
        ).toISOString(),
        timings: {
          routedAt: message.timestamp,
          ...(message.fetchedAt === undefined ? {} : { fetchedAt: message.fetchedAt }),
          admittedAt: attempt.delivery.admittedAt,
          answeredAt: attempt.delivery.answeredAt,
        },
        ...gap,
        ...extra,
      }),
    );
  }

  private emit(record: AttemptRecord): void {
    this.options.events.emit('attempt', record);
    this.options.attempts.record(record);
  }
}
