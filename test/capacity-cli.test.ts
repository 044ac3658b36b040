// `courier capacity` as a user runs it: the plan for 100,000 deliveries/s to 50 destinations, as
// JSON naming the bench run its costs came from; a bad flag is a usage error naming it.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { courierCli } from './helpers/cli.ts';

test('courier capacity plans 100,000 deliveries/s to 50 destinations from the measured costs', async () => {
  const out = await courierCli(['capacity', '--rate', '100000', '--destinations', '50', '--json']);
  assert.equal(out.code, 0, out.stderr);
  const { plan, costs } = JSON.parse(out.stdout) as {
    plan: { deliveriesPerSecond: number; partitions: { destination: number }; firstLimit: string };
    costs: { commit: string; command: string };
  };
  assert.equal(plan.deliveriesPerSecond, 100_000);
  assert.ok(plan.partitions.destination >= 6);
  assert.ok(plan.firstLimit.length > 0);
  assert.match(costs.command, /npm run bench/);
  const text = await courierCli(['capacity', '--rate', '100000', '--destinations', '50']);
  assert.match(text.stdout, /100,000 deliveries\/s/);
  assert.match(text.stdout, /costs measured \d{4}-\d{2}-\d{2} on \S+/);
  const bad = await courierCli(['capacity', '--rate', '10', '--destinations', '2', '--fanout', '3']);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--fanout \(3\) cannot be more than --destinations \(2\)/);
});
