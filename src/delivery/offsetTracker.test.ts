import assert from 'node:assert/strict';
import { test } from 'node:test';
import { OffsetTracker } from './offsetTracker.ts';

test('commits only below the lowest unfinished offset', () => {
  const t = new OffsetTracker();
  assert.equal(t.committable(), undefined);
  for (const o of [10, 11, 12, 13]) t.track(o, o * 100);
  assert.equal(t.committable(), 10);
  t.finish(12);
  t.finish(11);
  assert.equal(t.committable(), 10);
  assert.deepEqual(t.lowestUnfinished(), { offset: 10, timestamp: 1000 });
  t.finish(10);
  assert.equal(t.committable(), 13);
  t.finish(13);
  assert.equal(t.committable(), 14);
  assert.equal(t.lowestUnfinished(), undefined);
  assert.equal(t.unfinished, 0);
});

test('offsets seen again are not tracked twice, and finishing twice changes nothing', () => {
  const t = new OffsetTracker();
  for (const o of [0, 1, 2]) t.track(o);
  assert.equal(t.track(1), false);
  t.finish(1);
  t.finish(1);
  assert.equal(t.committable(), 0);
  assert.equal(t.unfinished, 2);
});

/**
 * The tracker against a reference model over thousands of random sequences: offsets arrive in
 * order with gaps (compaction, transactions), are finished in any order, some are held for a
 * long time (a paused destination, a slow key) and finished later, and commits are taken at any
 * point. The committed offset must always be the model's: everything below it finished, the
 * offset itself unfinished (or one past the highest), never moving backwards.
 */
test('matches a reference model over random track/finish/hold/commit sequences', () => {
  let seed = 42;
  const random = () => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed / 0x7fffffff;
  };
  for (let run = 0; run < 3000; run++) {
    const t = new OffsetTracker();
    const tracked: number[] = [];
    const done = new Set<number>();
    const held = new Set<number>();
    let next = Math.floor(random() * 5);
    let lastCommit = -1;
    const steps = 5 + Math.floor(random() * 60);
    for (let s = 0; s < steps; s++) {
      const r = random();
      if (r < 0.4) {
        t.track(next);
        tracked.push(next);
        next += 1 + (random() < 0.2 ? Math.floor(random() * 4) : 0);
      } else if (r < 0.75) {
        const open = tracked.filter((o) => !done.has(o) && !held.has(o));
        const o = open[Math.floor(random() * open.length)];
        if (o !== undefined) {
          done.add(o);
          t.finish(o);
        }
      } else if (r < 0.85) {
        const open = tracked.filter((o) => !done.has(o));
        const o = open[Math.floor(random() * open.length)];
        if (o !== undefined) held.add(o);
      } else if (r < 0.92) {
        const o = [...held][Math.floor(random() * held.size)];
        if (o !== undefined) {
          held.delete(o);
          done.add(o);
          t.finish(o);
        }
      } else {
        // A duplicate delivery of an offset already seen (a re-fetch) is ignored.
        const o = tracked[Math.floor(random() * tracked.length)];
        if (o !== undefined) t.track(o);
      }
      const lowestOpen = tracked.find((o) => !done.has(o));
      const expected =
        tracked.length === 0 ? undefined : (lowestOpen ?? (tracked[tracked.length - 1] as number) + 1);
      const got = t.committable();
      assert.equal(got, expected, `run ${run} step ${s}`);
      if (got !== undefined) {
        assert.ok(got >= lastCommit, 'the committed offset never moves backwards');
        lastCommit = got;
      }
      assert.equal(t.unfinished, tracked.filter((o) => !done.has(o)).length);
    }
  }
});
