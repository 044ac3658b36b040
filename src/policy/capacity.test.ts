// The capacity planner against a plan worked out by hand.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type CapacityCosts, planCapacity } from './capacity.ts';

const COSTS: CapacityCosts = {
  measured: '2026-12-07T00:00:00Z',
  commit: 'test',
  command: 'by hand',
  cpuMsPerDelivery: 0.5,
  routerCpuMsPerRecord: 0.1,
  redisBytesPerMark: 20,
  redisBytesPerAttemptFilter: 2,
  recordBytes: { event: 300, destination: 250, attempt: 400, eventValue: 200 },
};

test('a plan worked out by hand: 100 events/s to 2 of 4 destinations', () => {
  const DAY = 86_400_000;
  const plan = planCapacity(
    {
      rate: 100,
      destinations: 4,
      fanout: 2,
      retentionMs: DAY,
      attemptsRetentionMs: 2 * DAY,
      idempotencyWindowMs: DAY,
      eventBytes: 1000,
      replicationFactor: 2,
      utilization: 0.5,
    },
    COSTS,
  );
  // 100 × 2 = 200 deliveries/s, 50 per destination.
  assert.equal(plan.deliveriesPerSecond, 200);
  assert.equal(plan.perDestinationPerSecond, 50);
  // Router: 200 × 0.1 ms = 0.02 cores; delivery: 200 × 0.4 ms = 0.08 cores; one worker each at 50 %.
  assert.deepEqual(plan.roles, { router: { cores: 0, workers: 1 }, deliver: { cores: 0.1, workers: 1 } });
  // A worker delivers 0.5 × 1000 / 0.4 = 1,250/s: 50/s needs one partition; the default 6 stays.
  assert.deepEqual(plan.partitions, { events: 6, destination: 6, attempts: 6 });
  // Marks: 200/s × 86,400 s × 20 B; filters: 100/s × 172,800 s × 2 B.
  assert.equal(plan.redis.marksBytes, 345_600_000);
  assert.equal(plan.redis.attemptFiltersBytes, 34_560_000);
  // Events: 100/s × (1,000 + 100 B of record overhead) × 86,400 s × 2 replicas.
  assert.equal(plan.disk.events, 19_008_000_000);
  // Destination records: 200/s × (1,000 + 50) × 86,400 × 2; attempt records: 200/s × 400 × 172,800 × 2.
  assert.equal(plan.disk.destinations, 36_288_000_000);
  assert.equal(plan.disk.attempts, 27_648_000_000);
  assert.equal(plan.disk.total, 19_008_000_000 + 36_288_000_000 + 27_648_000_000);
  // Bodies and 450 B of headers: 200 × 1,450 B/s.
  assert.equal(plan.egressBytesPerSecond, 290_000);
});

test('a busy destination gets the partitions its workers need; the first limit is the largest share', () => {
  const plan = planCapacity(
    {
      rate: 10_000,
      destinations: 1,
      fanout: 1,
      retentionMs: 86_400_000,
      attemptsRetentionMs: 86_400_000,
      idempotencyWindowMs: 7 * 86_400_000,
      eventBytes: 500,
      replicationFactor: 3,
      utilization: 0.5,
    },
    COSTS,
  );
  // 10,000/s at 1,250/s a worker: 8 partitions, 8 deliver workers (4 cores / 0.5).
  assert.equal(plan.partitions.destination, 8);
  assert.equal(plan.roles.deliver.workers, 8);
  // Marks for 7 days: 10,000 × 604,800 × 20 B = 121 GB, nearly twice a 64 GB node: Redis first.
  assert.equal(plan.redis.marksBytes, 120_960_000_000);
  assert.match(plan.firstLimit, /^Redis memory/);
});
