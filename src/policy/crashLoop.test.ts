import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatMark, parseMark, suspectOf, suspectStep } from './crashLoop.ts';

test("one's own mark, or none, suspects nothing", () => {
  assert.equal(suspectOf(undefined, 'me'), undefined);
  assert.equal(suspectOf({ owner: 'me', from: 1, to: 5, crashes: 0 }, 'me'), undefined);
});

test('a range a dead holder left is worked one record at a time, each counting one death', () => {
  const s = suspectOf({ owner: 'dead', from: 10, to: 14, crashes: 0 }, 'me');
  assert.deepEqual(s, { from: 10, to: 14, crashes: 1 });
  assert.deepEqual(suspectStep(s, 9), { kind: 'normal' });
  assert.deepEqual(suspectStep(s, 10), { kind: 'alone', crashes: 1 });
  assert.deepEqual(suspectStep(s, 14), { kind: 'alone', crashes: 1 });
  assert.deepEqual(suspectStep(s, 15), { kind: 'normal' });
});

test('a single record is moved aside at its third death, not before', () => {
  // Death 1 in a range, death 2 alone (mark carries 1), death 3 alone (mark carries 2).
  const second = suspectOf({ owner: 'dead', from: 12, to: 12, crashes: 1 }, 'me');
  assert.deepEqual(suspectStep(second, 12), { kind: 'alone', crashes: 2 });
  const third = suspectOf({ owner: 'dead', from: 12, to: 12, crashes: 2 }, 'me');
  assert.deepEqual(suspectStep(third, 12), { kind: 'aside', crashes: 3 });
});

test('marks round-trip; a damaged one reads as none', () => {
  const mark = { owner: 'a-b-c', from: 3, to: 9, crashes: 2 };
  assert.deepEqual(parseMark(formatMark(mark)), mark);
  assert.equal(parseMark('x|1|y|0'), undefined);
  assert.equal(parseMark(null), undefined);
});
