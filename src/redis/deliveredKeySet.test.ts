// The delivered-key set with a fake clock and the semantics of admit.lua / complete.lua in memory
// (one hash per day keyed by mark field, with expiry on the same clock; the sharding of a day is
// Redis layout, left out here): claims fence concurrent senders by token, a delivered mark is found
// in any day of the window (also across midnight), locks expire, and the claims of one turn share
// one round trip. The scripts themselves, shards included, run against real Redis in test/.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { FakeClock } from '../../test/helpers/fakeClock.ts';
import { DAY_MS } from './buckets.ts';
import { DeliveredKeySet, type DeliveryStore } from './deliveredKeySet.ts';
import { redisKeys } from './keys.ts';

/** A mark field (a digest, as bytes) as a map key; other arguments as strings. */
const fieldOf = (v: string | number | Buffer | undefined): string =>
  Buffer.isBuffer(v) ? `#${v.toString('hex')}` : String(v);

/** Hashes and strings with expiry on the fake clock, and the scripts over them. */
class MemoryStore implements DeliveryStore {
  calls = { admit: 0, complete: 0 };
  private strings = new Map<string, { value: string; expiresAt: number }>();
  private hashes = new Map<string, { fields: Map<string, string>; expiresAt: number }>();
  private readonly clock: FakeClock;
  constructor(clock: FakeClock) {
    this.clock = clock;
  }
  private live<T extends { expiresAt: number }>(map: Map<string, T>, key: string): T | undefined {
    const v = map.get(key);
    if (v && v.expiresAt <= this.clock.now()) map.delete(key);
    return map.get(key);
  }
  async marked(numberOfKeys: number, ...rest: Array<string | Buffer>): Promise<string | null> {
    const [, v] = this.bucketHolding(
      rest.slice(0, numberOfKeys).map(String),
      fieldOf(rest[numberOfKeys + 1]),
    );
    return v ?? null;
  }
  private bucketHolding(buckets: string[], id: string): [string | undefined, string | undefined] {
    for (const b of buckets) {
      const v = this.live(this.hashes, b)?.fields.get(id);
      if (v !== undefined) return [b, v];
    }
    return [undefined, undefined];
  }
  async admit(numberOfKeys: number, ...rest: Array<string | number | Buffer>): Promise<number[]> {
    this.calls.admit += 1;
    const keys = rest.slice(0, numberOfKeys).map(String);
    const argv = rest.slice(numberOfKeys).map(fieldOf);
    const n = Number(argv[2]);
    const lockMs = Number(argv[1]);
    const out: number[] = [];
    for (let i = 1; i <= (keys.length - n) / 2; i++) {
      const [id, force, token] = [argv[4 * i], argv[4 * i + 1], argv[4 * i + 2]] as [string, string, string];
      const [, v] = force === '1' ? [undefined, undefined] : this.bucketHolding(keys.slice(0, n), id);
      const lock = keys[n + i - 1] as string;
      const held = this.live(this.strings, lock);
      if (v?.startsWith('D') || v?.startsWith('d'))
        out.push(-1 - Number(/^[Dd](\d+)/.exec(v)?.[1] ?? 0) - (v.startsWith('d') ? 1_048_576 : 0));
      else if (!held || held.value === token) {
        this.strings.set(lock, { value: token, expiresAt: this.clock.now() + lockMs });
        out.push(0);
      } else out.push(Math.max(1, held.expiresAt - this.clock.now()));
    }
    return out;
  }
  async complete(numberOfKeys: number, ...rest: Array<string | number | Buffer>): Promise<number> {
    this.calls.complete += 1;
    const keys = rest.slice(0, numberOfKeys).map(String);
    const argv = rest.slice(numberOfKeys).map(fieldOf);
    const n = Number(argv[1]);
    const expiresAt = Number(argv[2]);
    for (let i = 1; i <= (keys.length - n) / 2; i++) {
      const [id, attempt, token] = [argv[4 * i], argv[4 * i + 1], argv[4 * i + 2]] as [
        string,
        string,
        string,
      ];
      if (attempt !== '') {
        const [found, v] = this.bucketHolding(keys.slice(0, n), id);
        const bucket = found ?? (keys[0] as string);
        const before = v ? Number(/^\D(\d+)/.exec(v)?.[1] ?? 0) : 0;
        const suffix = v ? (/\|.*$/.exec(v)?.[0] ?? '') : '';
        const hash = this.live(this.hashes, bucket) ?? { fields: new Map(), expiresAt: Infinity };
        hash.fields.set(id, `d${Math.max(before, Number(attempt))}${suffix}`);
        if (bucket === keys[0]) hash.expiresAt = expiresAt;
        this.hashes.set(bucket, hash);
      }
      const lock = keys[n + i - 1] as string;
      if (this.live(this.strings, lock)?.value === token) this.strings.delete(lock);
    }
    return 1;
  }
  async confirm(numberOfKeys: number, ...rest: Array<string | Buffer>): Promise<number> {
    const buckets = rest.slice(0, numberOfKeys).map(String);
    const argv = rest.slice(numberOfKeys);
    for (let i = 0; i < argv.length; i += 2) {
      const id = fieldOf(argv[i + 1]);
      const [bucket, v] = this.bucketHolding(buckets, id);
      if (bucket && v?.startsWith('d')) this.live(this.hashes, bucket)?.fields.set(id, `D${v.slice(1)}`);
    }
    return 1;
  }
}

const WINDOW = 7 * DAY_MS;

function setup(clock = new FakeClock(), store = new MemoryStore(clock)) {
  const set = new DeliveredKeySet({
    redis: store,
    keys: redisKeys('courier'),
    destination: 'crm',
    ttlMs: WINDOW,
    lockMs: 5000,
    clock,
  });
  return { clock, store, set };
}

describe('delivered-key set', () => {
  test('a claim fences other senders; its own token renews it; release lets the next one in', async () => {
    const { set } = setup();
    const mine = set.newToken();
    const theirs = set.newToken();
    assert.deepEqual(await set.claim('e1', { token: mine }), { state: 'claimed' });
    const locked = await set.claim('e1', { token: theirs });
    assert.equal(locked.state, 'locked');
    assert.ok(locked.state === 'locked' && locked.retryInMs > 0 && locked.retryInMs <= 5000);
    assert.deepEqual(await set.claim('e1', { token: mine }), { state: 'claimed' }, 'renewed, same token');
    await set.release('e1', theirs);
    assert.equal((await set.claim('e1', { token: theirs })).state, 'locked', 'only the owner releases');
    await set.release('e1', mine);
    assert.deepEqual(await set.claim('e1', { token: theirs }), { state: 'claimed' });
  });

  test('a delivered event is skipped by every later claim, which says by which attempt, unless the replay forces it', async () => {
    const { set } = setup();
    const token = set.newToken();
    await set.claim('e1', { token });
    await set.markDelivered('e1', token, 3);
    assert.deepEqual(await set.claim('e1', { token: set.newToken() }), {
      state: 'delivered',
      attempt: 3,
      unconfirmed: true,
    });
    await set.confirm(['e1']);
    assert.deepEqual(await set.claim('e1', { token: set.newToken() }), {
      state: 'delivered',
      attempt: 3,
      unconfirmed: false,
    });
    assert.deepEqual(await set.claim('e1', { token: set.newToken(), force: true }), { state: 'claimed' });
    assert.equal(await set.isDelivered('e1'), true);
    assert.equal(await set.isDelivered('e2'), false);
  });

  test('a lock whose holder died expires after lockMs', async () => {
    const { clock, set } = setup();
    await set.claim('e1', { token: set.newToken() });
    await clock.advance(4999);
    assert.equal((await set.claim('e1', { token: set.newToken() })).state, 'locked');
    await clock.advance(1);
    assert.equal((await set.claim('e1', { token: set.newToken() })).state, 'claimed');
  });

  test('a mark made just before midnight is found after it, for the whole window, then forgotten', async () => {
    const clock = new FakeClock(Date.UTC(2026, 11, 1, 23, 59, 59));
    const { set } = setup(clock);
    const token = set.newToken();
    await set.claim('e1', { token });
    await set.markDelivered('e1', token);
    await clock.advance(2000); // next UTC day
    assert.equal((await set.claim('e1', { token: set.newToken() })).state, 'delivered');
    await clock.advance(WINDOW - 10_000);
    assert.equal(await set.isDelivered('e1'), true, 'kept for the idempotency window');
    await clock.advance(2 * DAY_MS);
    assert.equal(await set.isDelivered('e1'), false, 'its bucket expired a window after its day');
  });

  test('the claims and completions of one turn share one round trip each', async () => {
    const { store, set } = setup();
    const tokens = Array.from({ length: 50 }, () => set.newToken());
    const claims = await Promise.all(tokens.map((token, i) => set.claim(`e${i}`, { token })));
    assert.ok(claims.every((c) => c.state === 'claimed'));
    assert.equal(store.calls.admit, 1);
    await Promise.all(tokens.map((token, i) => set.markDelivered(`e${i}`, token)));
    assert.equal(store.calls.complete, 1);
    const again = await Promise.all(tokens.map((_, i) => set.claim(`e${i}`, { token: set.newToken() })));
    assert.ok(again.every((c) => c.state === 'delivered'));
    assert.equal(store.calls.admit, 2);
  });
});
