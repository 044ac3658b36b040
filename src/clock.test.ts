import assert from 'node:assert/strict';
import { test } from 'node:test';
import { sharedBeats, systemClock } from './clock.ts';

const until = async (check: () => boolean) => {
  const deadline = Date.now() + 5000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not met within 5 s');
    await new Promise((r) => setTimeout(r, 5));
  }
};

test('intervals of one period share one Node timer, and each stops on its own', async () => {
  const before = sharedBeats();
  const ticks = { a: 0, b: 0, c: 0 };
  const a = systemClock.setInterval(() => ticks.a++, 20);
  const b = systemClock.setInterval(() => ticks.b++, 20);
  const c = systemClock.setInterval(() => ticks.c++, 30);
  assert.equal(sharedBeats(), before + 2);
  await until(() => ticks.a >= 2 && ticks.b >= 2 && ticks.c >= 2);
  systemClock.clear(a);
  const b0 = ticks.b;
  const a0 = ticks.a;
  await until(() => ticks.b >= b0 + 2);
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
    await until(() => ran >= 2 && errors.length >= 1);
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
