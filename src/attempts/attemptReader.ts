// Reads the delivery log (`<prefix>.attempts`) back: every attempt record of one event, for the
// log's whole retention (the event's partition is known from its id, and the attempt filters say
// which stretches of it may hold the id, so only those are read), and searches by destination,
// status, outcome, event type and time, where time bounds become offsets so a search reads only
// its window. Memory stays bounded: a search keeps the newest `limit` matches.
import type { Admin, Kafka } from 'kafkajs';
import { type PartitionRange, rangesBetween, readRanges } from '../kafka/rangeReader.ts';
import { statusClass } from '../policy/failures.ts';
import type { AttemptOutcome, AttemptRecord } from '../telemetry/events.ts';
import type { AttemptFilters } from './attemptFilters.ts';
import { attemptPartitionOf } from './attemptLog.ts';

/**
 * How far before a filter's start its records may have been written: the records of a flush are
 * written, acknowledged, then their ids filtered, and instances' clocks differ.
 */
const WRITE_SLACK_MS = 60_000;

export interface AttemptSearch {
  destination?: string;
  /** A status (`503`), a class (`5xx`), or `none` for attempts without an answer. */
  status?: string;
  outcome?: AttemptOutcome;
  eventType?: string;
  sinceMs: number;
  untilMs?: number;
  /** At most this many records, the newest ones (default 100). */
  limit?: number;
}

export interface SearchResult {
  /** Oldest first. */
  items: AttemptRecord[];
  /** Records that matched in the window (may be more than `items`). */
  matched: number;
  /** Records read. */
  scanned: number;
}

/** Whether a record matches the filters of a search (time aside). Pure. */
export function matchesSearch(a: AttemptRecord, s: Omit<AttemptSearch, 'sinceMs'>): boolean {
  if (s.destination !== undefined && a.destination !== s.destination) return false;
  if (s.outcome !== undefined && a.outcome !== s.outcome) return false;
  if (s.eventType !== undefined && a.eventType !== s.eventType) return false;
  if (s.status !== undefined) {
    const wanted = s.status.toLowerCase();
    const got = /^\dxx$/.test(wanted) || wanted === 'none' ? statusClass(a.status) : String(a.status ?? '');
    if (got !== wanted) return false;
  }
  return true;
}

/** Keeps the newest `limit` items by a sort key, in bounded memory. */
export class Newest<T> {
  private readonly items: Array<{ key: number; item: T }> = [];
  private readonly limit: number;
  constructor(limit: number) {
    this.limit = limit;
  }
  add(key: number, item: T): void {
    if (this.items.length >= this.limit && key <= (this.items[0]?.key ?? -Infinity)) return;
    let i = this.items.length;
    while (i > 0 && (this.items[i - 1]?.key ?? 0) > key) i--;
    this.items.splice(i, 0, { key, item });
    if (this.items.length > this.limit) this.items.shift();
  }
  /** Oldest first. */
  list(): T[] {
    return this.items.map((e) => e.item);
  }
}

function parseRecord(value: Buffer | null): AttemptRecord | undefined {
  if (!value) return undefined;
  try {
    return JSON.parse(value.toString('utf8')) as AttemptRecord;
  } catch {
    return undefined;
  }
}

export class AttemptReader {
  private readonly options: {
    kafka: Kafka;
    admin: Admin;
    topic: string;
    partitions: number;
    filters: AttemptFilters;
    groupPrefix: string;
  };

  constructor(options: AttemptReader['options']) {
    this.options = options;
  }

  /** Every attempt record of the event still in the log, oldest first. */
  async find(eventId: string): Promise<AttemptRecord[]> {
    const { admin, topic } = this.options;
    const partition = attemptPartitionOf(eventId, this.options.partitions);
    const windows = await this.options.filters.candidates(partition, eventId);
    if (windows.length === 0) return [];
    const ranges: PartitionRange[] = [];
    for (const w of windows) {
      const [range] = await rangesBetween(admin, topic, {
        sinceMs: w.from - WRITE_SLACK_MS,
        untilMs: w.to + WRITE_SLACK_MS,
        partitions: [partition],
      });
      if (range) ranges.push(range);
    }
    const found = new Map<number, AttemptRecord>();
    for (const range of mergeRanges(ranges)) {
      await readRanges({
        kafka: this.options.kafka,
        admin,
        topic,
        ranges: [range],
        groupPrefix: this.options.groupPrefix,
        onMessage: (message) => {
          if (message.key?.toString('utf8') !== eventId) return undefined;
          const record = parseRecord(message.value);
          if (record) found.set(Number(message.offset), record);
          return undefined;
        },
      });
    }
    return [...found.values()].sort((a, b) => a.at.localeCompare(b.at) || a.attempt - b.attempt);
  }

  /** The newest records matching the search within its time window. */
  async search(s: AttemptSearch): Promise<SearchResult> {
    const newest = new Newest<AttemptRecord>(s.limit ?? 100);
    const ranges = await rangesBetween(this.options.admin, this.options.topic, {
      sinceMs: s.sinceMs,
      ...(s.untilMs === undefined ? {} : { untilMs: s.untilMs }),
    });
    let matched = 0;
    const { read } = await readRanges({
      kafka: this.options.kafka,
      admin: this.options.admin,
      topic: this.options.topic,
      ranges,
      groupPrefix: this.options.groupPrefix,
      timeoutMs: 300_000,
      onMessage: (message) => {
        const record = parseRecord(message.value);
        if (!record || !matchesSearch(record, s)) return undefined;
        const at = Date.parse(record.at);
        if (at < s.sinceMs || (s.untilMs !== undefined && at >= s.untilMs)) return undefined;
        matched += 1;
        newest.add(at, record);
        return undefined;
      },
    });
    return { items: newest.list(), matched, scanned: read };
  }
}

/** Overlapping ranges of one partition as one. Pure. */
export function mergeRanges(ranges: PartitionRange[]): PartitionRange[] {
  const sorted = [...ranges].sort((a, b) => a.partition - b.partition || a.from - b.from);
  const out: PartitionRange[] = [];
  for (const r of sorted) {
    const last = out.at(-1);
    if (last && last.partition === r.partition && r.from <= last.to) last.to = Math.max(last.to, r.to);
    else out.push({ ...r });
  }
  return out;
}
