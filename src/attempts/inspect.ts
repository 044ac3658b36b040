// What happened to one event, per destination: every attempt record of it in the delivery log
// (found for the log's whole retention, see attemptReader.ts) and, from them, each destination's
// state now. Used by `courier inspect`, `courier dlq show` and the status page's event lookup.
import type { AttemptRecord } from '../telemetry/events.ts';
import type { AttemptReader } from './attemptReader.ts';

export type EventState = 'delivered' | 'retrying' | 'dead-lettered' | 'paused';

export interface DestinationState {
  state: EventState;
  /** The attempts made (the highest attempt number seen). */
  attempt: number;
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
      at: last.at,
      ...(last.status === undefined ? {} : { status: last.status }),
      ...(last.errorCode ? { errorCode: last.errorCode } : {}),
      ...(last.errorClass ? { errorClass: last.errorClass } : {}),
      ...(last.nextAttemptAt && state === 'retrying' ? { nextAttemptAt: last.nextAttemptAt } : {}),
    };
  }
  return out;
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
