// The delivered-key set: which events each destination has already received (kept for the
// idempotency window in the destination's days, each sharded into small hashes keyed by a 12-byte
// digest of the event id: see lua/_marks.lua and buckets.ts), plus a short in-flight lock so two
// senders never send one event at once. Admissions and completions of many events share one
// Redis round trip each (see lua/admit.lua and lua/complete.lua).
import { hash, randomUUID } from 'node:crypto';
import { type Clock, systemClock } from '../clock.ts';
import { CRASHES_TO_MOVE_ASIDE } from '../policy/crashLoop.ts';
import { Batcher } from './batcher.ts';
import { bucketDays, bucketExpiresAt, parseEntry } from './buckets.ts';
import type { RedisKeys } from './keys.ts';
import type { Owners } from './liveness.ts';

/** The Redis commands the set runs (Courier's `admit`, `complete`, `confirm` and `marked` scripts). */
export interface DeliveryStore {
  admit(
    numberOfKeys: number,
    ...keysThenArgs: Array<string | number | Buffer>
  ): Promise<Array<number | string>>;
  complete(numberOfKeys: number, ...keysThenArgs: Array<string | number | Buffer>): Promise<number>;
  confirm(numberOfKeys: number, ...keysThenArgs: Array<string | Buffer>): Promise<number>;
  marked(numberOfKeys: number, ...keysThenArgs: Array<string | Buffer>): Promise<string | null>;
}

/**
 * The hash field an event's mark is kept under: the first 12 bytes of the SHA-256 of its id (ids
 * are often UUIDs, 36 bytes; 96 bits make a collision among a day's marks about as likely as
 * never). Its first 4 bytes also pick the shard.
 */
export function markField(eventId: string): Buffer {
  return hash('sha256', eventId, 'buffer').subarray(0, 12);
}

/** What admit.lua adds for a mark whose attempt record is not confirmed yet. */
const UNCONFIRMED = 1_048_576;

export type ClaimResult =
  | { state: 'claimed' }
  /**
   * Delivered already, by attempt `attempt` (0 when the mark does not say); `unconfirmed` while
   * the delivery log has not confirmed that attempt's record (a crash may have lost it).
   */
  | { state: 'delivered'; attempt: number; unconfirmed: boolean; owner?: string }
  | { state: 'locked'; retryInMs: number }
  /**
   * Claimed, but `crashes` earlier claims of it never completed: processes died holding it. Move
   * it aside (and complete the claim) rather than send it again.
   */
  | { state: 'crash-loop'; crashes: number };

export interface DeliveredKeySetOptions {
  redis: DeliveryStore;
  keys: RedisKeys;
  destination: string;
  /** How long a delivered mark is kept (the idempotency window). */
  ttlMs: number;
  /** How long an in-flight lock lives if its holder dies: longer than one attempt. */
  lockMs: number;
  /**
   * This process's liveness id (written in the marks it makes until their records are confirmed),
   * and whether another's process is alive. Without it, marks name no owner.
   */
  owners?: Owners;
  clock?: Clock;
}

interface Completion {
  eventId: string;
  token: string;
  /** The attempt that delivered the event; undefined to only release the lock. */
  attempt?: number;
}

export class DeliveredKeySet {
  private readonly options: DeliveredKeySetOptions;
  private readonly clock: Clock;
  /** Identifies this process; each claim's token is this plus a counter. */
  private readonly owner = randomUUID();
  private claims = 0;
  private readonly admissions: Batcher<{ eventId: string; force: boolean; token: string }, ClaimResult>;
  private readonly completions: Batcher<Completion, undefined>;
  /**
   * The mark fields of recent events: each delivery needs its field three times (admit, complete,
   * confirm); a bounded cache saves two digests (emptied whole when it grows past its bound).
   */
  private readonly fields = new Map<string, Buffer>();

  constructor(options: DeliveredKeySetOptions) {
    this.options = options;
    this.clock = options.clock ?? systemClock;
    this.admissions = new Batcher((items) => this.admitMany(items));
    this.completions = new Batcher((items) => this.completeMany(items));
  }

  private fieldOf(eventId: string): Buffer {
    let field = this.fields.get(eventId);
    if (!field) {
      if (this.fields.size >= 20_000) this.fields.clear();
      field = markField(eventId);
      this.fields.set(eventId, field);
    }
    return field;
  }

  /** A new in-flight lock length (a reload changed the destination's timeout); later claims use it. */
  setLockMs(lockMs: number): void {
    this.options.lockMs = lockMs;
  }

  /** A token for one message's claims: renewing a claim with it extends it, nobody else's. */
  newToken(): string {
    this.claims += 1;
    return `${this.owner}:${this.claims}`;
  }

  /**
   * Delivered already? Being sent by someone else? Otherwise the event is ours to send, under
   * `token` (claiming again with the same token extends the claim). A delivery whose record is
   * not confirmed yet, by a process that is alive, is still being recorded: wait for it (answered
   * as `locked`); by a process that is gone, its record is lost (`delivered`, `unconfirmed`).
   */
  async claim(eventId: string, options: { token: string; force?: boolean }): Promise<ClaimResult> {
    const result = await this.admissions.submit({
      eventId,
      force: options.force === true,
      token: options.token,
    });
    if (result.state !== 'delivered' || !result.owner) return result;
    const { owner, ...rest } = result;
    if (await this.options.owners?.isAlive(owner)) return { state: 'locked', retryInMs: 250 };
    return rest;
  }

  async markDelivered(eventId: string, token: string, attempt = 1): Promise<void> {
    await this.completions.submit({ eventId, token, attempt });
  }

  /** The delivery log has these events' delivered records: their marks are confirmed. */
  async confirm(eventIds: readonly string[]): Promise<void> {
    if (eventIds.length === 0) return;
    const buckets = this.buckets().slice(0, 2);
    await this.options.redis.confirm(
      buckets.length,
      ...buckets,
      ...eventIds.flatMap((id) => [id, this.fieldOf(id)]),
    );
  }

  async release(eventId: string, token: string): Promise<void> {
    await this.completions.submit({ eventId, token });
  }

  async isDelivered(eventId: string): Promise<boolean> {
    const buckets = this.buckets();
    const found = await this.options.redis.marked(buckets.length, ...buckets, eventId, this.fieldOf(eventId));
    return found ? parseEntry(found)?.state === 'delivered' : false;
  }

  /** The destination's delivery days (base key names, see lua/_marks.lua), newest first. */
  private buckets(now = this.clock.now()): string[] {
    const { keys, destination, ttlMs } = this.options;
    return bucketDays(now, ttlMs).map((day) => keys.deliveries(destination, day));
  }

  /** Each event's in-flight lock, then each event's count of claims not completed. */
  private locks(eventIds: string[]): string[] {
    const { keys, destination } = this.options;
    return [
      ...eventIds.map((id) => keys.inflight(destination, id)),
      ...eventIds.map((id) => keys.held(destination, id)),
    ];
  }

  private async admitMany(
    items: Array<{ eventId: string; force: boolean; token: string }>,
  ): Promise<ClaimResult[]> {
    const buckets = this.buckets();
    const keys = [...buckets, ...this.locks(items.map((i) => i.eventId))];
    const states = await this.options.redis.admit(
      keys.length,
      ...keys,
      CRASHES_TO_MOVE_ASIDE,
      this.options.lockMs,
      buckets.length,
      ...items.flatMap((i) => [i.eventId, this.fieldOf(i.eventId), i.force ? '1' : '0', i.token]),
    );
    return states.map((s) => {
      if (typeof s === 'string' && s.startsWith('c'))
        return { state: 'crash-loop', crashes: Number(s.slice(1)) };
      if (typeof s === 'string' && s.startsWith('u')) {
        const [attempt, owner] = s.slice(1).split('~');
        return {
          state: 'delivered',
          attempt: Number(attempt),
          unconfirmed: true,
          ...(owner ? { owner } : {}),
        };
      }
      const n = Number(s);
      if (n === 0) return { state: 'claimed' };
      if (n < 0) {
        const unconfirmed = -n - 1 >= UNCONFIRMED;
        return { state: 'delivered', attempt: (-n - 1) % UNCONFIRMED, unconfirmed };
      }
      return { state: 'locked', retryInMs: Math.max(10, n) };
    });
  }

  private async completeMany(items: Completion[]): Promise<undefined[]> {
    const now = this.clock.now();
    const buckets = this.buckets(now);
    const keys = [...buckets, ...this.locks(items.map((i) => i.eventId))];
    await this.options.redis.complete(
      keys.length,
      ...keys,
      this.options.owners?.id ?? '',
      buckets.length,
      bucketExpiresAt(now, this.options.ttlMs),
      ...items.flatMap((i) => [
        i.eventId,
        // A release only drops the lock: no mark, no field.
        i.attempt === undefined ? '' : this.fieldOf(i.eventId),
        i.attempt === undefined ? '' : String(i.attempt),
        i.token,
      ]),
    );
    return items.map(() => undefined);
  }
}
