import assert from 'node:assert/strict';
import { test } from 'node:test';
import { KeyedScheduler } from './keyedScheduler.ts';

test('same key runs in order, other keys concurrently up to the limit', async () => {
  const s = new KeyedScheduler(2);
  const order: string[] = [];
  let running = 0;
  let peak = 0;
  const gates: Array<() => void> = [];
  const task = (name: string) => async () => {
    running += 1;
    peak = Math.max(peak, running);
    order.push(`start ${name}`);
    await new Promise<void>((r) => gates.push(r));
    running -= 1;
    order.push(`end ${name}`);
    return name;
  };
  const all = [
    s.run('a', task('a1')),
    s.run('a', task('a2')),
    s.run('b', task('b1')),
    s.run('c', task('c1')),
  ];
  while (gates.length < 2) await new Promise((r) => setImmediate(r));
  assert.deepEqual(order, ['start a1', 'start b1']);
  while (order.filter((o) => o.startsWith('end')).length < 4) {
    const g = gates.shift();
    g?.();
    await new Promise((r) => setImmediate(r));
  }
  assert.deepEqual(await Promise.all(all), ['a1', 'a2', 'b1', 'c1']);
  assert.equal(peak, 2);
  assert.ok(order.indexOf('end a1') < order.indexOf('start a2'));
});

test('a task sees the previous result of its key', async () => {
  const s = new KeyedScheduler(4);
  const first = s.run<string>('k', async () => 'hold');
  const second = s.run<string>('k', async (prev) => `after ${prev}`);
  assert.equal(await first, 'hold');
  assert.equal(await second, 'after hold');
});
