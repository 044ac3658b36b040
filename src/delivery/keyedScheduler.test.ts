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

test('a task that fails, at once or later, frees its key and its slot', async () => {
  const s = new KeyedScheduler(1);
  const thrown = s.run('k', () => {
    throw new Error('sync');
  });
  const rejected = s.run('k', async () => {
    throw new Error('async');
  });
  const after = s.run('k', async () => 'ran');
  const other = s.run('j', async () => 'other ran');
  await assert.rejects(thrown, /sync/);
  await assert.rejects(rejected, /async/);
  assert.equal(await after, 'ran');
  assert.equal(await other, 'other ran');
  assert.equal(s.size, 0);
});

test('a key whose task finished waits behind keys already ready (FIFO across keys)', async () => {
  const s = new KeyedScheduler(1);
  const order: string[] = [];
  let release: () => void = () => {};
  const first = s.run('a', () => new Promise<void>((r) => (release = r)).then(() => order.push('a1')));
  const all = [first, s.run('a', async () => order.push('a2')), s.run('b', async () => order.push('b1'))];
  assert.equal(s.size, 3);
  release();
  await Promise.all(all);
  // a2 became ready when a1 ended, after b1 was already waiting for the one slot.
  assert.deepEqual(order, ['a1', 'b1', 'a2']);
});

test('ten thousand waiting tasks run in order per key', async () => {
  const s = new KeyedScheduler(8);
  const seen = new Map<string, number[]>();
  const all: Promise<unknown>[] = [];
  for (let i = 0; i < 10_000; i++) {
    const key = `k${i % 37}`;
    all.push(
      s.run(key, async () => {
        const list = seen.get(key) ?? [];
        list.push(i);
        seen.set(key, list);
      }),
    );
  }
  await Promise.all(all);
  for (const list of seen.values())
    assert.deepEqual(
      list,
      [...list].sort((x, y) => x - y),
    );
  assert.equal(
    [...seen.values()].reduce((n, l) => n + l.length, 0),
    10_000,
  );
});
