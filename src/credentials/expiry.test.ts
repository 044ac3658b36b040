import assert from 'node:assert/strict';
import { test } from 'node:test';
import { daysLeft, shouldWarn, withDaysLeft } from './expiry.ts';

const DAY = 86_400_000;
const NOW = 1_700_000_000_000;

test('days left are whole days, rounded down, negative once expired', () => {
  assert.equal(daysLeft(NOW + 3 * DAY + 5, NOW), 3);
  assert.equal(daysLeft(NOW + 3 * DAY - 5, NOW), 2);
  assert.equal(daysLeft(NOW - 5, NOW), -1);
  assert.deepEqual(withDaysLeft([{ kind: 'secret', expiresAt: NOW + 10 * DAY }], NOW), [
    { kind: 'secret', expiresAt: NOW + 10 * DAY, daysLeft: 10 },
  ]);
});

test('a certificate or secret within the warning window warns; an OAuth2 token never does', () => {
  assert.equal(shouldWarn({ kind: 'client-certificate', expiresAt: NOW + 3 * DAY }, NOW, 14), true);
  assert.equal(shouldWarn({ kind: 'client-certificate', expiresAt: NOW + 15 * DAY }, NOW, 14), false);
  assert.equal(shouldWarn({ kind: 'secret', expiresAt: NOW + 14 * DAY }, NOW, 14), true);
  assert.equal(shouldWarn({ kind: 'secret', expiresAt: NOW - DAY }, NOW, 14), true, 'expired already');
  assert.equal(shouldWarn({ kind: 'oauth2-token', expiresAt: NOW + 60_000 }, NOW, 14), false);
});
