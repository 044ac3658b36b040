// The rate limiter with a fake clock and the GCRA of `takePermits-1.lua` in memory: permits come
// in blocks (one store call per block, not per waiter), refill at the rate, and two instances
// sharing one store never exceed `perSecond × T + burst` in any span T between them.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { FakeClock } from '../../test/helpers/fakeClock.ts';
import { type PermitStore, RateLimiter } from './rateLimiter.ts';

/** takePermits-1.lua, line for line, on the fake clock. */
class MemoryGcra implements PermitStore {
  calls = 0;
  failing = false;
  private tat = new Map<string, number>();
  private readonly clock: FakeClock;
  constructor(clock: FakeClock) {
    this.clock = clock;
  }
  async takePermits(key: string, interval: number, burst: number, wanted: number): Promise<[number, number]> {
    this.calls += 1;
    if (this.failing) throw new Error('redis down');
    const now = this.clock.now();
    const tolerance = (burst - 1) * interval;
    const tat = Math.max(this.tat.get(key) ?? 0, now);
    const allowAt = tat - tolerance;
    if (now < allowAt) return [0, Math.ceil(allowAt - now)];
    const available = Math.floor((now - allowAt) / interval) + 1;
    const granted = Math.min(wanted, available);
    const newTat = tat + granted * interval;
    this.tat.set(key, newTat);
    const wait = granted < wanted ? Math.max(1, Math.ceil(newTat - tolerance - now)) : 0;
    return [granted, wait];
  }
}

function limiter(clock: FakeClock, store: PermitStore, perSecond: number, burst: number) {
  return new RateLimiter({ redis: store, key: 'rate', destination: 'd', perSecond, burst, clock });
}

/** Starts `n` acquisitions and records the fake time at which each was granted. */
function acquireMany(l: RateLimiter, clock: FakeClock, n: number, signal?: AbortSignal) {
  const grantedAt: number[] = [];
  const results: Array<Promise<boolean>> = [];
  for (let i = 0; i < n; i++) {
    results.push(
      l.acquire(signal).then((ok) => {
        if (ok) grantedAt.push(clock.now());
        return ok;
      }),
    );
  }
  return { grantedAt, results };
}

/** The most permits granted in any span of `spanMs` (sliding). */
function busiest(times: number[], spanMs: number): number {
  const sorted = [...times].sort((a, b) => a - b);
  let best = 0;
  for (let i = 0, j = 0; i < sorted.length; i++) {
    while ((sorted[i] as number) - (sorted[j] as number) >= spanMs) j++;
    best = Math.max(best, i - j + 1);
  }
  return best;
}

describe('rate limiter', () => {
  test('a burst is granted at once in one store call; the rest refill at the rate', async () => {
    const clock = new FakeClock();
    const store = new MemoryGcra(clock);
    const l = limiter(clock, store, 10, 5);
    const start = clock.now();
    const { grantedAt } = acquireMany(l, clock, 15);
    await clock.settle();
    assert.equal(grantedAt.length, 5, 'the burst at once');
    assert.equal(store.calls, 1, 'one call for the whole block');
    // The other 10 need 1 s at 10/s; the limiter asks at most every 250 ms (its gather interval).
    await clock.advance(999);
    assert.ok(grantedAt.length >= 11 && grantedAt.length < 15, `refilling at 10/s: ${grantedAt.length}`);
    await clock.advance(251);
    assert.equal(grantedAt.length, 15, 'all within 1 s plus one gather interval');
    assert.ok(store.calls <= 8, `blocks, not one call per waiter: ${store.calls} calls for 15 permits`);
    assert.ok(busiest(grantedAt, 1000) <= 10 + 5, 'never more than perSecond + burst in a second');
    assert.equal(Math.min(...grantedAt), start);
  });

  test('nobody waiting: nothing is asked', async () => {
    const clock = new FakeClock();
    const store = new MemoryGcra(clock);
    limiter(clock, store, 10, 5);
    await clock.advance(5000);
    assert.equal(store.calls, 0);
  });

  test('two instances sharing the store share the rate: their grants together stay within it', async () => {
    const clock = new FakeClock();
    const store = new MemoryGcra(clock);
    const a = limiter(clock, store, 20, 4);
    const b = limiter(clock, store, 20, 4);
    const ra = acquireMany(a, clock, 60);
    const rb = acquireMany(b, clock, 60);
    await clock.advance(6500);
    const all = [...ra.grantedAt, ...rb.grantedAt];
    assert.equal(all.length, 120);
    for (const span of [250, 1000, 3000]) {
      const limit = Math.floor((20 * span) / 1000) + 4;
      assert.ok(busiest(all, span) <= limit, `at most ${limit} in ${span} ms, saw ${busiest(all, span)}`);
    }
    assert.ok(ra.grantedAt.length > 0 && rb.grantedAt.length > 0, 'both instances got their share');
  });

  test('an aborted wait leaves the queue and resolves false; close wakes everyone with false', async () => {
    const clock = new FakeClock();
    const store = new MemoryGcra(clock);
    const l = limiter(clock, store, 1, 1);
    assert.equal(await l.acquire(), true);
    const abort = new AbortController();
    const waiting = acquireMany(l, clock, 3, abort.signal);
    const other = acquireMany(l, clock, 2);
    abort.abort();
    assert.deepEqual(await Promise.all(waiting.results), [false, false, false]);
    await clock.advance(1000);
    assert.equal(other.grantedAt.length, 1, 'the aborted waiters did not take the next permit');
    l.close();
    assert.deepEqual(await Promise.all(other.results), [true, false]);
  });

  test('an unreachable store holds the waiters (nothing is sent) and is asked again', async () => {
    const clock = new FakeClock();
    const store = new MemoryGcra(clock);
    store.failing = true;
    const l = limiter(clock, store, 10, 5);
    const { grantedAt } = acquireMany(l, clock, 3);
    await clock.advance(1600);
    assert.equal(grantedAt.length, 0);
    assert.ok(store.calls >= 3, 'asked again about every 500 ms');
    store.failing = false;
    await clock.advance(600);
    assert.equal(grantedAt.length, 3);
    l.close();
  });
});
