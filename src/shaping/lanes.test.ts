import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ShapeResult, ShapeSource } from '../cloudevents/shape.ts';
import { createLogger } from '../telemetry/logger.ts';
import { type Deliver, ExpressionLanes } from './lanes.ts';
import type { PairOutcome, PoolJob, PoolResult } from './protocol.ts';

const limits = { cpuMs: 100, outputBytes: 1000, headerBytes: 100 };
const sources: ShapeSource[] = [
  { id: 'good', transform: 'x', headers: [], limits },
  { id: 'bad', transform: 'y', headers: [], limits },
];
const logger = createLogger({ level: 'silent' });
const ok: ShapeResult = { kind: 'route', body: '{}' };
const breach: ShapeResult = { kind: 'fail', code: 'CPU_LIMIT', error: 'cpu limit' };

/**
 * A pool that answers each job after the test releases it: `answer(job)` says each pair's
 * outcome; jobs wait in `pending` until `release()` is called (in order).
 */
function scriptedPool(
  answer: (destination: number, event: number) => ShapeResult,
  spentMs: Record<number, number> = {},
) {
  const pending: Array<{ lane: string; job: PoolJob; resolve: (r: PoolResult) => void }> = [];
  const deferred = new Set<number>();
  const pool = {
    run(lane: 'shared' | 'own', job: PoolJob): Promise<PoolResult> {
      return new Promise((resolve) => pending.push({ lane, job, resolve }));
    },
    defer(_version: string, destination: number) {
      deferred.add(destination);
    },
  };
  const release = async (lane?: string) => {
    for (let i = 0; i < 100 && !pending.some((p) => !lane || p.lane === lane); i++)
      await new Promise((r) => setImmediate(r));
    const at = pending.findIndex((p) => !lane || p.lane === lane);
    assert.ok(at >= 0, `a ${lane ?? ''} job is pending`);
    const [{ job, resolve, lane: ran }] = pending.splice(at, 1) as [(typeof pending)[number]];
    const results: PairOutcome[] = [];
    let broken = -1;
    for (let k = 0; k < job.pairs.length / 2; k++) {
      const e = job.pairs[2 * k] as number;
      const d = job.pairs[2 * k + 1] as number;
      if (d === broken || (ran === 'shared' && deferred.has(d))) {
        results.push({ kind: 'deferred' });
        continue;
      }
      const r = answer(d, e);
      if (r.kind === 'fail' && r.code === 'CPU_LIMIT') broken = d;
      results.push(r);
    }
    resolve({ results, spentMs: [spentMs[0] ?? 0, spentMs[1] ?? 0] });
    await new Promise((r) => setImmediate(r));
  };
  return { pool, pending, release };
}

function collector() {
  const got = new Map<number, number[]>();
  const deliver: Deliver = (destination, pairs) => {
    got.set(destination, [...(got.get(destination) ?? []), ...pairs]);
  };
  return { got, deliver };
}

const batch = (events: number) => ({
  version: 'v',
  events: Array.from({ length: events }, (_, i) => `{"id":"${i}"}`),
  pairs: Array.from({ length: events }, (_, e) => [e, 0, e, 1]).flat(),
  sources,
});

test('a destination moves to its own lane; deferred work queued ahead of a running job is not lost, and order holds', async () => {
  // `bad` is slow (it takes most of each shared job) but within its limits.
  const { pool, release } = scriptedPool(() => ok, { 1: 100 });
  const lanes = new ExpressionLanes({ pool, logger, slowPairMs: 1 });
  const a = collector();
  const b = collector();
  const c = collector();
  const first = lanes.evaluate(batch(3), a.deliver);
  const second = lanes.evaluate(batch(3), b.deliver); // queued in the shared lane
  await release('shared'); // `bad` took too long: it moves to its own lane
  const third = lanes.evaluate(batch(3), c.deliver); // `bad` straight to its own lane, running now
  await release('shared'); // the second batch: its `bad` pairs come back deferred, queued ahead
  await release('own'); // the third batch's job of `bad` finishes
  await release('shared'); // the third batch's `good` pairs
  await release('own'); // the second batch's deferred pairs
  await Promise.all([first, second, third]);
  for (const x of [a, b, c]) {
    assert.deepEqual(x.got.get(0), [0, 2, 4], 'the good destination: every pair, in order');
    assert.deepEqual(x.got.get(1), [1, 3, 5], 'the slow one: every pair, in order');
  }
});

test('breaches in a row suspend a destination: its later events fail at once, unevaluated', async () => {
  const { pool, pending, release } = scriptedPool((d) => (d === 1 ? breach : ok));
  let now = 1_000;
  const lanes = new ExpressionLanes({
    pool,
    logger,
    breachesToSuspend: 3,
    suspendMs: 30_000,
    now: () => now,
  });
  const results: ShapeResult[] = [];
  const deliver: Deliver = (d, _pairs, r) => {
    if (d === 1) results.push(...r);
  };
  const first = lanes.evaluate(batch(5), deliver);
  await release('shared');
  await release('own');
  await release('own');
  await first;
  assert.deepEqual(
    results.map((r) => (r.kind === 'fail' ? r.code : r.kind)),
    ['CPU_LIMIT', 'CPU_LIMIT', 'CPU_LIMIT', 'SUSPENDED', 'SUSPENDED'],
  );
  // Still suspended: no job at all for it.
  results.length = 0;
  const second = lanes.evaluate({ ...batch(2), pairs: [0, 1, 1, 1] }, deliver);
  await second;
  assert.equal(pending.length, 0);
  assert.deepEqual(
    results.map((r) => (r.kind === 'fail' ? r.code : r.kind)),
    ['SUSPENDED', 'SUSPENDED'],
  );
  // After the cool-down one event is evaluated again.
  now += 30_001;
  results.length = 0;
  const third = lanes.evaluate({ ...batch(1), pairs: [0, 1] }, deliver);
  await release('own');
  await third;
  assert.deepEqual(
    results.map((r) => (r.kind === 'fail' ? r.code : r.kind)),
    ['CPU_LIMIT'],
  );
});
