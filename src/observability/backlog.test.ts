import assert from 'node:assert/strict';
import { test } from 'node:test';
import { countAfter, searchSmallest } from './backlog.ts';

test('countAfter counts past the committed offset, or past the low mark', () => {
  const ranges = [
    { partition: 0, low: 0, high: 10 },
    { partition: 1, low: 5, high: 8 },
    { partition: 2, low: 0, high: 4 },
  ];
  // Partition 1's commit is below its low mark (deleted by retention): only what exists counts.
  assert.equal(
    countAfter(
      ranges,
      new Map([
        [0, 7],
        [1, 2],
      ]),
    ),
    3 + 3 + 4,
  );
  assert.equal(countAfter(ranges, undefined), 10 + 3 + 4);
});

test('searchSmallest finds the threshold of a monotone predicate within the precision', async () => {
  let calls = 0;
  const at = await searchSmallest(
    async (x) => {
      calls++;
      return x > 1_234_567;
    },
    0,
    10_000_000,
    100,
  );
  assert.ok(at !== undefined && at <= 1_234_567 && at > 1_234_467, String(at));
  assert.ok(calls < 30, `${calls} calls`);
  assert.equal(await searchSmallest(async () => false, 0, 100, 1), undefined);
});
