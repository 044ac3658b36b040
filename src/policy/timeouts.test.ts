import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AdaptiveTimeout, suggestedTimeout } from './timeouts.ts';

const bounds = { minMs: 200, maxMs: 10_000 };

test('the suggestion leaves headroom over the tail, within bounds', () => {
  assert.equal(suggestedTimeout(80, 120, bounds), 240);
  assert.equal(suggestedTimeout(80, 900, bounds), 1350, 'a long p99.9 tail widens it');
  assert.equal(suggestedTimeout(20, 30, bounds), 200, 'never below min');
  assert.equal(suggestedTimeout(9000, 9500, bounds), 10_000, 'never above max');
});

test('auto starts at the maximum and settles near the observed latency', () => {
  const t = new AdaptiveTimeout(bounds);
  assert.equal(t.current(), 10_000);
  for (let i = 0; i < 49; i++) t.observe(80);
  assert.equal(t.current(), 10_000, 'not before enough answers');
  const changes = [];
  for (let i = 0; i < 400; i++) {
    const c = t.observe(70 + (i % 20));
    if (c) changes.push(c);
  }
  assert.ok(t.current() >= 240 && t.current() <= 300, `settled at ${t.current()}`);
  assert.ok(
    changes.every((c) => c.to < c.from),
    'only downward here',
  );
  assert.ok(changes.length >= 5, 'by halves, not at once');
});

test('a destination that slowly gets slower is followed up, not cut off', () => {
  const t = new AdaptiveTimeout(bounds);
  for (let i = 0; i < 500; i++) t.observe(100);
  const settled = t.current();
  for (let latency = 100; latency <= 1000; latency += 10) {
    for (let i = 0; i < 10; i++) {
      t.observe(latency);
      assert.ok(t.current() > latency, `timeout ${t.current()} ms above the latency ${latency} ms`);
    }
  }
  assert.ok(t.current() > settled);
});

test('a timeout widens it by half at once and holds it before it may fall again', () => {
  const t = new AdaptiveTimeout({ ...bounds, minSamples: 50 });
  for (let i = 0; i < 500; i++) t.observe(100);
  const before = t.current();
  const change = t.timedOut();
  assert.deepEqual([change?.from, change?.to, change?.cause], [before, Math.ceil(before * 1.5), 'timeout']);
  for (let i = 0; i < 49; i++) t.observe(100);
  assert.equal(t.current(), Math.ceil(before * 1.5), 'held');
  for (let i = 0; i < 100; i++) t.observe(100);
  assert.ok(t.current() < Math.ceil(before * 1.5), 'then it falls back');
  const capped = new AdaptiveTimeout(bounds);
  assert.equal(capped.timedOut(), undefined, 'already at the maximum');
});
