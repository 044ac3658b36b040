import assert from 'node:assert/strict';
import { test } from 'node:test';
import { OffsetTracker } from './offsetTracker.ts';

test('commits only below the lowest unfinished offset', () => {
  const t = new OffsetTracker();
  assert.equal(t.committable(), undefined);
  for (const o of [10, 11, 12, 13]) t.track(o);
  assert.equal(t.committable(), 10);
  t.finish(12);
  t.finish(11);
  assert.equal(t.committable(), 10);
  t.finish(10);
  assert.equal(t.committable(), 13);
  t.finish(13);
  assert.equal(t.committable(), 14);
  assert.equal(t.lowestUnfinished(), undefined);
});

test('after a rewind, finished offsets are skipped once and unfinished ones tracked again', () => {
  const t = new OffsetTracker();
  for (const o of [0, 1, 2, 3]) t.track(o);
  t.finish(0);
  t.finish(2);
  assert.equal(t.lowestUnfinished(), 1);
  t.rewind(1);
  assert.equal(t.committable(), 1);
  // the partition is read again from offset 1
  assert.equal(t.skipIfFinished(1), false);
  t.track(1);
  assert.equal(t.skipIfFinished(2), true);
  assert.equal(t.skipIfFinished(3), false);
  t.track(3);
  t.finish(1);
  assert.equal(t.committable(), 3);
  t.finish(3);
  assert.equal(t.committable(), 4);
});
