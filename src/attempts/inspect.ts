// What happened to one event, per destination: every attempt record of it in the delivery log
// (found for the log's whole retention, see attemptReader.ts) and, from them, each destination's
// state now. Used by `courier inspect`, `courier dlq show` and the status page's event lookup.
import type { AttemptRecord } from '../telemetry/events.ts';
import type { AttemptReader } from './attemptReader.ts';

export type EventState = 'delivered' | 'retrying' | 'dead-lettered' | 'paused';

/**
 * One chapter of an event's history at a destination: its first delivery (with its retries), or
 * one replay (whose attempts count from 1 again, with a fresh retry budget).
 */
export interface Chapter {
  replay: boolean;
  /** Attempts made in this chapter. */
  attempts: number;
  state: EventState;
}

export interface DestinationState {
  state: EventState;
  /** The attempts made (the highest attempt number seen). */
  attempt: number;
  /** Requests sent to the destination in all, over every chapter. */
  requests: number;
  /** The first delivery, then each replay. */
  chapters: Chapter[];
  at?: string;
  status?: number;
  errorCode?: string;
  errorClass?: string;
  nextAttemptAt?: string;
}

export interface EventReport {
  eventId: string;
  eventType?: string;
  destinations: Record<string, DestinationState>;
  attempts: AttemptRecord[];
}

const STATE_OF: Record<AttemptRecord['outcome'], EventState> = {
  delivered: 'delivered',
  'duplicate-skipped': 'delivered',
  retry: 'retrying',
  dlq: 'dead-lettered',
  paused: 'paused',
};

/** Each destination's state from its attempts: delivered once delivered, else its latest outcome. Pure. */
export function destinationStates(attempts: readonly AttemptRecord[]): Record<string, DestinationState> {
  const out: Record<string, DestinationState> = {};
  for (const destination of new Set(attempts.map((a) => a.destination))) {
    const own = attempts.filter((a) => a.destination === destination);
    const last = own.at(-1) as AttemptRecord;
    const delivered = own.some((a) => STATE_OF[a.outcome] === 'delivered');
    const state = delivered ? 'delivered' : STATE_OF[last.outcome];
    out[destination] = {
      state,
      attempt: Math.max(...own.map((a) => a.attempt)),
      requests: own.filter((a) => a.outcome !== 'duplicate-skipped' && a.attempt > 0 && !a.rebuilt).length,
      chapters: chaptersOf(own),
      at: last.at,
      ...(last.status === undefined ? {} : { status: last.status }),
      ...(last.errorCode ? { errorCode: last.errorCode } : {}),
      ...(last.errorClass ? { errorClass: last.errorClass } : {}),
      ...(last.nextAttemptAt && state === 'retrying' ? { nextAttemptAt: last.nextAttemptAt } : {}),
    };
  }
  return out;
}

/** One destination's attempts as chapters: a replay begins one; its attempts count from 1 again. Pure. */
export function chaptersOf(own: readonly AttemptRecord[]): Chapter[] {
  const chapters: Chapter[] = [];
  let last = 0;
  for (const a of own) {
    if (a.outcome === 'duplicate-skipped') continue;
    const current = chapters.at(-1);
    if (!current || (a.replay && (!current.replay || a.attempt <= last))) {
      chapters.push({ replay: a.replay, attempts: 0, state: STATE_OF[a.outcome] });
    }
    const chapter = chapters.at(-1) as Chapter;
    chapter.attempts = Math.max(chapter.attempts, a.attempt);
    chapter.state = STATE_OF[a.outcome];
    last = a.attempt;
  }
  return chapters;
}

/**
 * The records without those rebuilt after a crash whose original is there too (same destination,
 * attempt and outcome): a rebuilt record stands in only for one the crash lost. Pure.
 */
export function withoutRedundantRebuilds(attempts: readonly AttemptRecord[]): AttemptRecord[] {
  const originals = new Set(
    attempts.filter((a) => !a.rebuilt).map((a) => `${a.destination}|${a.attempt}|${a.outcome}`),
  );
  return attempts.filter((a) => !a.rebuilt || !originals.has(`${a.destination}|${a.attempt}|${a.outcome}`));
}

export async function inspectEvent(o: { eventId: string; reader: AttemptReader }): Promise<EventReport> {
  const attempts = withoutRedundantRebuilds(await o.reader.find(o.eventId));
  const eventType = attempts.find((a) => a.eventType)?.eventType;
  return {
    eventId: o.eventId,
    ...(eventType ? { eventType } : {}),
    destinations: destinationStates(attempts),
    attempts,
  };
}
