// What happened to one event, per destination: the index entries (state, attempts, where the
// records are) and the attempt records themselves, read from the attempts topic. Used by
// `courier inspect` and anything else that shows one event.
import type { Kafka } from 'kafkajs';
import type { EntryState } from '../redis/buckets.ts';
import type { AttemptRecord } from '../telemetry/events.ts';
import type { EventIndex } from './eventIndex.ts';
import { readAttemptRecords } from './eventIndex.ts';

export interface DestinationState {
  state: EntryState;
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

export async function inspectEvent(o: {
  eventId: string;
  destinations: readonly string[];
  index: EventIndex;
  kafka: Kafka;
  attemptsTopic: string;
}): Promise<EventReport> {
  const entries = await o.index.lookup(o.eventId, o.destinations);
  const locations = Object.values(entries).flatMap((e) => (e.records ? [e.records] : []));
  const attempts = await readAttemptRecords(o.kafka, o.attemptsTopic, o.eventId, locations);
  const destinations: Record<string, DestinationState> = {};
  for (const [destination, entry] of Object.entries(entries)) {
    const last = attempts.filter((a) => a.destination === destination).at(-1);
    destinations[destination] = {
      state: entry.state,
      attempt: entry.attempts,
      ...(last
        ? {
            at: last.at,
            ...(last.status === undefined ? {} : { status: last.status }),
            ...(last.errorCode ? { errorCode: last.errorCode } : {}),
            ...(last.errorClass ? { errorClass: last.errorClass } : {}),
            ...(last.nextAttemptAt && entry.state === 'retrying'
              ? { nextAttemptAt: last.nextAttemptAt }
              : {}),
          }
        : {}),
    };
  }
  const eventType = attempts.find((a) => a.eventType)?.eventType;
  return { eventId: o.eventId, ...(eventType ? { eventType } : {}), destinations, attempts };
}
