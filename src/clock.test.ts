import assert from 'node:assert/strict';
import { test } from 'node:test';
import { waitFor } from '../test/helpers/stack.ts';
import { sharedBeats, systemClock } from './clock.ts';

test('intervals of one period share one Node timer, and each stops on its own', async () => {
  const before = sharedBeats();
  const ticks = { a: 0, b: 0, c: 0 };
  const a = systemClock.setInterval(() => ticks.a++, 20);
  const b = systemClock.setInterval(() => ticks.b++, 20);
  const c = systemClock.setInterval(() => ticks.c++, 30);
  assert.equal(sharedBeats(), before + 2);
  await waitFor(() => ticks.a >= 2 && ticks.b >= 2 && ticks.c >= 2, { timeoutMs: 5000 });
  systemClock.clear(a);
  const b0 = ticks.b;
  const a0 = ticks.a;
  await waitFor(() => ticks.b >= b0 + 2, { timeoutMs: 5000 });
  assert.equal(ticks.a, a0);
  systemClock.clear(b);
  systemClock.clear(b); // twice: harmless
  systemClock.clear(c);
  assert.equal(sharedBeats(), before);
});

test('an interval that throws does not stop the others of its beat, and the error is not swallowed', async () => {
  let ran = 0;
  const errors: unknown[] = [];
  const onError = (err: unknown) => errors.push(err);
  const listeners = process.listeners('uncaughtException');
  process.removeAllListeners('uncaughtException');
  process.on('uncaughtException', onError);
  const bad = systemClock.setInterval(() => {
    throw new Error('boom');
  }, 15);
  const good = systemClock.setInterval(() => ran++, 15);
  try {
    await waitFor(() => ran >= 2 && errors.length >= 1, { timeoutMs: 5000 });
  } finally {
    systemClock.clear(bad);
    systemClock.clear(good);
    process.removeListener('uncaughtException', onError);
    for (const l of listeners) process.on('uncaughtException', l);
  }
  assert.match(String(errors[0]), /boom/);
});

test('an unref’d beat does not keep the process alive; a referenced member does', () => {
  const a = systemClock.setInterval(() => {}, 40);
  const b = systemClock.setInterval(() => {}, 40);
  a.unref();
  const timer = (a as unknown as { beat: { timer: NodeJS.Timeout } }).beat.timer;
  assert.equal(timer.hasRef(), true);
  b.unref();
  assert.equal(timer.hasRef(), false);
  systemClock.clear(a);
  systemClock.clear(b);
});
