import assert from 'node:assert/strict';
import { test } from 'node:test';
import { bucketDays, bucketExpiresAt, DAY_MS, parseEntry } from './buckets.ts';

test('an event of the window is in one of the last window-days + 1 buckets, newest first', () => {
  const now = 20_000 * DAY_MS + 5;
  assert.deepEqual(bucketDays(now, 7 * DAY_MS), [20000, 19999, 19998, 19997, 19996, 19995, 19994, 19993]);
  assert.equal(bucketDays(now, 2 * DAY_MS).length, 3);
  assert.equal(bucketExpiresAt(now, 7 * DAY_MS), 20_001 * DAY_MS + 7 * DAY_MS);
});

test('bucket values parse into state, attempts and record locations', () => {
  assert.deepEqual(parseEntry('D1'), { state: 'delivered', attempts: 1 });
  assert.deepEqual(parseEntry('R3|2:a,b,10'), {
    state: 'retrying',
    attempts: 3,
    records: { partition: 2, offsets: [10, 11, 36] },
  });
  assert.equal(parseEntry('nonsense'), undefined);
  assert.equal(parseEntry('X1'), undefined);
});
