// Reads a destination's DLQ topic for the operator: lists what is in it (newest last, filtered by
// time, class and last status, with the counts per class of the whole window) and finds the dead
// letters of given event ids. Reads stream through the window and keep only what they return
// (the newest `limit` entries, or the wanted ids): a 100,000-record DLQ reads in about a second.
import type { Admin, Kafka, KafkaMessage } from 'kafkajs';
import { COURIER_HEADER, headerString, stringHeaders } from '../kafka/headers.ts';
import { rangesBetween, readRanges } from '../kafka/rangeReader.ts';
import { readDeadLetter } from '../kafka/records.ts';
import { statusClass } from '../policy/failures.ts';

export interface DeadLetterEntry {
  eventId: string;
  type?: string;
  /** When it was written to the DLQ (its Kafka timestamp, ISO-8601). */
  deadLetteredAt: string;
  attempts: number;
  class: string;
  lastStatus?: number;
  lastError?: string;
  /** The start of the last response body. */
  snippet?: string;
  partition: number;
  offset: number;
}

export interface DeadLetterFilter {
  sinceMs?: number;
  untilMs?: number;
  class?: string;
  /** A status (`422`), a class (`4xx`), or `none` for a last attempt without an answer. */
  status?: string;
}

export interface DeadLetterList {
  /** The newest matching entries, oldest first. */
  items: DeadLetterEntry[];
  /** Entries that matched (may be more than `items`). */
  matched: number;
  /** Every dead letter in the time window, by class (whatever the class and status filters). */
  byClass: Record<string, number>;
  /** Records read. */
  scanned: number;
}

export interface DlqReadOptions {
  kafka: Kafka;
  admin: Admin;
  topic: string;
  groupPrefix: string;
}

const SNIPPET_START = 120;

/** The listing entry of a DLQ record; undefined when it carries no DLQ headers. Pure. */
export function deadLetterEntry(message: KafkaMessage, partition: number): DeadLetterEntry | undefined {
  const letter = readDeadLetter(message.headers);
  if (!letter) return undefined;
  const type = headerString(message.headers, COURIER_HEADER.eventType);
  return {
    eventId: letter.eventId,
    ...(type ? { type } : {}),
    deadLetteredAt: new Date(Number(message.timestamp)).toISOString(),
    attempts: letter.attempts,
    class: letter.errorClass,
    ...(letter.lastStatus === undefined ? {} : { lastStatus: letter.lastStatus }),
    ...(letter.lastError ? { lastError: letter.lastError } : {}),
    ...(letter.responseSnippet ? { snippet: letter.responseSnippet.slice(0, SNIPPET_START) } : {}),
    partition,
    offset: Number(message.offset),
  };
}

/** Whether an entry passes the class and status filters. Pure. */
export function matchesDeadLetter(e: DeadLetterEntry, f: DeadLetterFilter): boolean {
  if (f.class !== undefined && e.class !== f.class) return false;
  if (f.status !== undefined) {
    const wanted = f.status.toLowerCase();
    const got =
      /^\dxx$/.test(wanted) || wanted === 'none' ? statusClass(e.lastStatus) : String(e.lastStatus ?? '');
    if (got !== wanted) return false;
  }
  return true;
}

export async function listDeadLetters(
  o: DlqReadOptions & { filter: DeadLetterFilter; limit: number },
): Promise<DeadLetterList> {
  const ranges = await rangesBetween(o.admin, o.topic, {
    ...(o.filter.sinceMs === undefined ? {} : { sinceMs: o.filter.sinceMs }),
    ...(o.filter.untilMs === undefined ? {} : { untilMs: o.filter.untilMs }),
  });
  const kept: DeadLetterEntry[] = [];
  const byClass: Record<string, number> = {};
  let matched = 0;
  const { read } = await readRanges({
    ...o,
    ranges,
    timeoutMs: 600_000,
    onMessage: (message, partition) => {
      const entry = deadLetterEntry(message, partition);
      if (!entry) return undefined;
      byClass[entry.class] = (byClass[entry.class] ?? 0) + 1;
      if (!matchesDeadLetter(entry, o.filter)) return undefined;
      matched += 1;
      kept.push(entry);
      // Bounded: trim to the newest `limit` whenever twice that many are held.
      if (kept.length >= 2 * o.limit) trimToNewest(kept, o.limit);
      return undefined;
    },
  });
  trimToNewest(kept, o.limit);
  return { items: kept, matched, byClass, scanned: read };
}

/** Sorts oldest first and keeps the newest `limit`. */
function trimToNewest(entries: DeadLetterEntry[], limit: number): void {
  entries.sort(
    (a, b) =>
      a.deadLetteredAt.localeCompare(b.deadLetteredAt) || a.partition - b.partition || a.offset - b.offset,
  );
  if (entries.length > limit) entries.splice(0, entries.length - limit);
}

/** One dead letter as stored: the payload, every header, and where it is. */
export interface StoredDeadLetter {
  eventId: string;
  partition: number;
  offset: number;
  key: Buffer | null;
  value: Buffer | null;
  headers: Record<string, string>;
  message: KafkaMessage;
}

/**
 * The latest record of each wanted event id in the window (the whole topic when unbounded), by its
 * courier-event-id header: dead letters, or the records of a destination topic.
 */
export async function findLatestByEventId(
  o: DlqReadOptions & { eventIds: ReadonlySet<string>; sinceMs?: number; untilMs?: number },
): Promise<Map<string, StoredDeadLetter>> {
  const found = new Map<string, StoredDeadLetter>();
  if (o.eventIds.size === 0) return found;
  const ranges = await rangesBetween(o.admin, o.topic, {
    ...(o.sinceMs === undefined ? {} : { sinceMs: o.sinceMs }),
    ...(o.untilMs === undefined ? {} : { untilMs: o.untilMs }),
  });
  await readRanges({
    ...o,
    ranges,
    timeoutMs: 600_000,
    onMessage: (message, partition) => {
      const eventId = headerString(message.headers, COURIER_HEADER.eventId);
      if (!eventId || !o.eventIds.has(eventId)) return undefined;
      const earlier = found.get(eventId);
      if (!earlier || Number(message.timestamp) >= Number(earlier.message.timestamp)) {
        found.set(eventId, {
          eventId,
          partition,
          offset: Number(message.offset),
          key: message.key,
          value: message.value,
          headers: stringHeaders(message.headers),
          message,
        });
      }
      return undefined;
    },
  });
  return found;
}

/** The newest `n` dead letters, reading only the last `n` of each partition. */
export async function latestDeadLetters(o: DlqReadOptions & { n: number }): Promise<DeadLetterEntry[]> {
  const ranges = (await rangesBetween(o.admin, o.topic)).map((r) => ({
    ...r,
    from: Math.max(r.from, r.to - o.n),
  }));
  const entries: DeadLetterEntry[] = [];
  await readRanges({
    ...o,
    ranges,
    timeoutMs: 15_000,
    onMessage: (message, partition) => {
      const entry = deadLetterEntry(message, partition);
      if (entry) entries.push(entry);
      return undefined;
    },
  });
  trimToNewest(entries, o.n);
  return entries;
}
