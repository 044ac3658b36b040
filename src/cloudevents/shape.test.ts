import assert from 'node:assert/strict';
import { test } from 'node:test';
import { matchesEventType } from './shape.ts';

test('glob patterns match event types', () => {
  assert.equal(matchesEventType(['*'], 'anything.at.all'), true);
  assert.equal(matchesEventType(['contact.*'], 'contact.created'), true);
  assert.equal(matchesEventType(['contact.*'], 'contacts.created'), false);
  assert.equal(matchesEventType(['order.?.paid'], 'order.x.paid'), true);
  assert.equal(matchesEventType(['order.?.paid'], 'order.xy.paid'), false);
  assert.equal(matchesEventType(['a.b', 'c.*'], 'c.d'), true);
  assert.equal(matchesEventType(['a.b'], 'aXb'), false, 'dots are literal');
});
