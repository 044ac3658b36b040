// `courier capacity`: what Courier needs for a given load, from the per-delivery costs the
// benchmark measured (policy/capacity.ts, policy/capacityCosts.ts). Connects to nothing.

import { parseDuration } from '../../duration.ts';
import { UsageError } from '../../errors.ts';
import type { CapacityInput } from '../../policy/capacity.ts';
import { type CapacityPlan, fmtBytes, planCapacity } from '../../policy/capacity.ts';
import { MEASURED_COSTS } from '../../policy/capacityCosts.ts';
import type { Flags } from '../args.ts';
import { positiveInt, printJson, str } from '../flags.ts';

/** The flags as a plan's input; a UsageError names a bad one. */
export function capacityInput(flags: Flags): CapacityInput {
  const destinations = positiveInt(flags, 'destinations') as number;
  const fanout = positiveInt(flags, 'fanout', 1);
  if (fanout > destinations)
    throw new UsageError(`--fanout (${fanout}) cannot be more than --destinations (${destinations})`);
  const duration = (name: string, fallback: string) => {
    const raw = str(flags, name) ?? fallback;
    const ms = parseDuration(raw);
    if (ms === undefined || ms <= 0)
      throw new UsageError(`--${name} must be a duration like 14d or 72h, got "${raw}"`);
    return ms;
  };
  return {
    rate: positiveInt(flags, 'rate') as number,
    destinations,
    fanout,
    retentionMs: duration('retention', '14d'),
    attemptsRetentionMs: duration('attempts-retention', '30d'),
    idempotencyWindowMs: duration('idempotency-window', '7d'),
    eventBytes: positiveInt(flags, 'event-bytes', 1000),
    replicationFactor: positiveInt(flags, 'replication', 3),
    utilization: 0.7,
  };
}

export function capacity(input: CapacityInput, json: boolean): number {
  const plan = planCapacity(input, MEASURED_COSTS);
  const source = `costs measured ${MEASURED_COSTS.measured.slice(0, 10)} on ${MEASURED_COSTS.commit} (${MEASURED_COSTS.command})`;
  if (json) {
    printJson({ input, plan, costs: MEASURED_COSTS });
    return 0;
  }
  for (const line of describe(input, plan)) console.log(line);
  console.log(`\n${source}; planned at ${Math.round(input.utilization * 100)} % of a core per worker.`);
  return 0;
}

function describe(input: CapacityInput, plan: CapacityPlan): string[] {
  const n = (x: number) => Math.round(x).toLocaleString('en-US');
  const days = (ms: number) => `${Math.round(ms / 86_400_000)} d`;
  return [
    `load: ${n(input.rate)} events/s × ${input.fanout} destination(s) each = ${n(plan.deliveriesPerSecond)} deliveries/s (${n(plan.perDestinationPerSecond)}/s per destination of ${input.destinations})`,
    '',
    'workers (one per core):',
    `  router         ${String(plan.roles.router.workers).padStart(6)}   ${plan.roles.router.cores} cores of routing`,
    `  deliver,retry  ${String(plan.roles.deliver.workers).padStart(6)}   ${plan.roles.deliver.cores} cores of delivery`,
    'partitions:',
    `  events topic                   ${plan.partitions.events}`,
    `  each destination (and its DLQ) ${plan.partitions.destination}`,
    `  attempts                       ${plan.partitions.attempts}`,
    `Redis memory:     ${fmtBytes(plan.redis.totalBytes)}  (delivered marks ${fmtBytes(plan.redis.marksBytes)} for ${days(input.idempotencyWindowMs)}, attempt filters ${fmtBytes(plan.redis.attemptFiltersBytes)} for ${days(input.attemptsRetentionMs)})`,
    `broker disk:      ${fmtBytes(plan.disk.total)}  with replication ${input.replicationFactor}: events ${fmtBytes(plan.disk.events)} and destination topics ${fmtBytes(plan.disk.destinations)} for ${days(input.retentionMs)}, the delivery log ${fmtBytes(plan.disk.attempts)} for ${days(input.attemptsRetentionMs)} (retries and dead letters on top)`,
    `network egress:   ${fmtBytes(plan.egressBytesPerSecond)}/s to receivers (${((plan.egressBytesPerSecond * 8) / 1e9).toFixed(2)} Gbit/s)`,
    '',
    `runs out first: ${plan.firstLimit}`,
  ];
}
