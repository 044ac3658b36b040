// Unit tests of the benchmark's pure figures.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { busiestCalendarSecond, busiestWindow, percentile, slope, steadyRate } from './stats.ts';

test('steady rate is measured between the 10 % and 90 % arrivals', () => {
  // 1,000 arrivals, one per millisecond after a 5-second start-up gap for the first 50.
  const arrivals = Array.from({ length: 1000 }, (_, i) => (i < 50 ? i : 5000 + i));
  const s = steadyRate(arrivals);
  assert.equal(s.deliveries, 799);
  assert.equal(s.seconds, 0.799);
  assert.equal(Math.round(s.perSecond), 1000);
});

test('busiest window slides instead of using calendar seconds', () => {
  // 30 arrivals in [900, 1100) straddle a calendar-second boundary.
  const arrivals = [...Array.from({ length: 30 }, (_, i) => 900 + i * 6), 5000];
  assert.equal(busiestWindow(arrivals, 1000), 30);
  assert.equal(busiestWindow([0, 999, 1000, 1999], 1000), 2);
  assert.equal(busiestWindow([], 1000), 0);
  // The same arrivals split 17 / 13 across calendar seconds.
  assert.equal(busiestCalendarSecond(arrivals), 17);
});

test('percentiles use the nearest rank', () => {
  const values = Array.from({ length: 100 }, (_, i) => i + 1);
  assert.equal(percentile(values, 50), 50);
  assert.equal(percentile(values, 99), 99);
  assert.equal(percentile([7], 99), 7);
  assert.ok(Number.isNaN(percentile([], 50)));
});

test('slope is the least-squares rise per unit, NaN without two distinct x', () => {
  assert.equal(
    slope([
      [0, 100],
      [1, 101],
      [2, 102],
      [3, 103],
    ]),
    1,
  );
  // Noise around a flat line: a slope near zero, not the last-minus-first difference.
  assert.equal(
    Math.round(
      slope([
        [0, 100],
        [1, 104],
        [2, 100],
        [3, 104],
        [4, 100],
      ]) * 100,
    ) / 100,
    0,
  );
  assert.ok(Number.isNaN(slope([[1, 5]])));
  assert.ok(
    Number.isNaN(
      slope([
        [1, 5],
        [1, 6],
      ]),
    ),
  );
});
