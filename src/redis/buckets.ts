// The delivery days: per destination and UTC day, the marks "D<attempts>" of the events it
// delivered that day — the delivered marks behind the idempotency check, spread over small shard
// hashes under the day's base key (the layout is lua/_marks.lua's). A day's keys expire a whole
// idempotency window after it ends, so no per-event key or TTL is kept. Marks written by older
// versions (one hash per day keyed by event id; "<state><attempts>|<partition>:<offsets>" when the
// buckets also located attempt records) are still read. Pure.

export const DAY_MS = 86_400_000;

/** The bucket days an event delivered within the window can be in, newest first. */
export function bucketDays(now: number, windowMs: number): number[] {
  const today = Math.floor(now / DAY_MS);
  const count = Math.ceil(windowMs / DAY_MS) + 1;
  return Array.from({ length: count }, (_, i) => today - i);
}

/** When today's bucket expires (epoch ms): the end of the day plus the window. */
export function bucketExpiresAt(now: number, windowMs: number): number {
  return (Math.floor(now / DAY_MS) + 1) * DAY_MS + windowMs;
}

export type EntryState = 'delivered' | 'retrying' | 'dead-lettered' | 'paused';

export const STATE_LETTER: Record<EntryState, string> = {
  delivered: 'D',
  retrying: 'R',
  'dead-lettered': 'L',
  paused: 'P',
};

const LETTER_STATE: Record<string, EntryState> = Object.fromEntries(
  Object.entries(STATE_LETTER).map(([state, letter]) => [letter, state as EntryState]),
);

export interface BucketEntry {
  state: EntryState;
  attempts: number;
  /** Delivered, and its attempt record not yet confirmed written (mark `d`, see confirm.lua). */
  unconfirmed?: true;
  /** Where the attempt records are in the attempts topic (oldest first). */
  records?: { partition: number; offsets: number[] };
}

/** Parses a bucket value; undefined when it is not one. */
export function parseEntry(value: string): BucketEntry | undefined {
  const m = /^([A-Zd])(\d+)(?:~[0-9a-z]+)?(?:\|(\d+):([0-9a-z,]*))?$/.exec(value);
  const unconfirmed = m?.[1] === 'd';
  const state = unconfirmed ? 'delivered' : m ? LETTER_STATE[m[1] as string] : undefined;
  if (!m || !state) return undefined;
  return {
    state,
    attempts: Number(m[2]),
    ...(unconfirmed ? { unconfirmed: true as const } : {}),
    ...(m[3] !== undefined
      ? {
          records: {
            partition: Number(m[3]),
            offsets: (m[4] ?? '')
              .split(',')
              .filter(Boolean)
              .map((o) => Number.parseInt(o, 36)),
          },
        }
      : {}),
  };
}
