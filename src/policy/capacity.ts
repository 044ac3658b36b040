// The capacity plan behind `courier capacity`: from a rate, a number of destinations, a fan-out and
// retentions, what Courier needs (partitions, workers and cores per role, Redis memory, broker disk,
// network egress), multiplied out from per-delivery costs the benchmark measured
// (capacityCosts.ts, written by `npm run bench`). Pure.

export interface CapacityCosts {
  measured: string;
  commit: string;
  command: string;
  /** The machine it ran on (cores, load), and the workers of the `courier run` measured. */
  machine?: string;
  workers?: number;
  /** CPU of the whole pipeline (route, deliver, record) per delivery to one destination, ms. */
  cpuMsPerDelivery: number;
  /** The router's CPU per routed record (one destination record), ms; the rest is the deliverer's. */
  routerCpuMsPerRecord: number;
  /** Redis bytes per delivered (event, destination) for the idempotency window. */
  redisBytesPerMark: number;
  /** Redis bytes per event for the delivery log's retention (its filters). */
  redisBytesPerAttemptFilter: number;
  /** Broker disk per record (segment bytes), and the value size of the benchmark's events. */
  recordBytes: { event: number; destination: number; attempt: number; eventValue: number };
}

export interface CapacityInput {
  /** Events produced per second. */
  rate: number;
  destinations: number;
  /** Destinations each event goes to on average (≤ destinations). */
  fanout: number;
  /** Retention of the events topic and the destination and retry topics, ms. */
  retentionMs: number;
  /** Retention of the delivery log, ms. */
  attemptsRetentionMs: number;
  /** The delivered-key set's window, ms. */
  idempotencyWindowMs: number;
  /** Size of one event as produced (its value), bytes. */
  eventBytes: number;
  replicationFactor: number;
  /** Share of a core a worker is planned to use (headroom for bursts and rebalances). */
  utilization: number;
}

export interface CapacityPlan {
  deliveriesPerSecond: number;
  perDestinationPerSecond: number;
  roles: {
    router: { cores: number; workers: number };
    deliver: { cores: number; workers: number };
  };
  partitions: { events: number; destination: number; attempts: number };
  redis: { marksBytes: number; attemptFiltersBytes: number; totalBytes: number };
  /** Broker disk with replication, bytes, by topic family. */
  disk: { events: number; destinations: number; attempts: number; total: number };
  /** HTTP bytes per second to receivers (bodies and Courier's headers). */
  egressBytesPerSecond: number;
  /** What outgrows its usual size first, and why. */
  firstLimit: string;
}

/** Request headers Courier adds to a body (webhook-id, timestamp, signature, user-agent…), bytes. */
export const REQUEST_OVERHEAD_BYTES = 450;
/** The default partition count of Courier's topics; a plan never goes below it. */
const MIN_PARTITIONS = 6;

const DAY = 86_400_000;
const GB = 1e9;

export function planCapacity(input: CapacityInput, costs: CapacityCosts): CapacityPlan {
  const deliveries = input.rate * input.fanout;
  const perDestination = deliveries / input.destinations;
  const routerMs = costs.routerCpuMsPerRecord;
  const deliverMs = Math.max(costs.cpuMsPerDelivery - routerMs, 0);
  const routerCores = (deliveries * routerMs) / 1000;
  const deliverCores = (deliveries * deliverMs) / 1000;
  const workers = (cores: number) => Math.max(1, Math.ceil(cores / input.utilization));
  // One worker takes this many deliveries/s; a destination needs a partition per worker it uses.
  const perWorker = (input.utilization * 1000) / Math.max(deliverMs, 1e-9);
  const destinationPartitions = Math.max(MIN_PARTITIONS, Math.ceil(perDestination / perWorker));
  const routerWorkers = workers(routerCores);
  const deliverWorkers = workers(deliverCores);

  const seconds = (ms: number) => ms / 1000;
  const marksBytes = deliveries * seconds(input.idempotencyWindowMs) * costs.redisBytesPerMark;
  const attemptFiltersBytes =
    input.rate * seconds(input.attemptsRetentionMs) * costs.redisBytesPerAttemptFilter;
  const overhead = (onDisk: number) => Math.max(onDisk - costs.recordBytes.eventValue, 0);
  const rf = input.replicationFactor;
  const events =
    input.rate * (input.eventBytes + overhead(costs.recordBytes.event)) * seconds(input.retentionMs) * rf;
  const destinations =
    deliveries *
    (input.eventBytes + overhead(costs.recordBytes.destination)) *
    seconds(input.retentionMs) *
    rf;
  const attempts = deliveries * costs.recordBytes.attempt * seconds(input.attemptsRetentionMs) * rf;

  const redisTotal = marksBytes + attemptFiltersBytes;
  const diskTotal = events + destinations + attempts;
  // Usual ceilings: a Redis node of 64 GB, a broker of 10 TB, a consumer group spread over at
  // most as many workers as its topic has partitions.
  const limits = [
    {
      share: redisTotal / (64 * GB),
      say: `Redis memory: ${fmtBytes(redisTotal)} (delivered marks for ${Math.round(input.idempotencyWindowMs / DAY)} days); shorten idempotency.windowMs or spread it over a Redis Cluster`,
    },
    {
      share: diskTotal / (10_000 * GB),
      say: `broker disk: ${fmtBytes(diskTotal)} with replication ${rf} (the delivery log ${fmtBytes(attempts)}); add brokers or shorten kafka.attemptsRetentionMs`,
    },
    {
      share: deliverWorkers / (destinationPartitions * input.destinations),
      say: `partitions: ${deliverWorkers} deliver workers for ${destinationPartitions} partitions per destination; workers beyond a destination's partitions idle for it`,
    },
  ].sort((a, b) => b.share - a.share);

  return {
    deliveriesPerSecond: deliveries,
    perDestinationPerSecond: perDestination,
    roles: {
      router: { cores: round(routerCores, 1), workers: routerWorkers },
      deliver: { cores: round(deliverCores, 1), workers: deliverWorkers },
    },
    partitions: {
      events: Math.max(MIN_PARTITIONS, routerWorkers),
      destination: destinationPartitions,
      attempts: Math.max(MIN_PARTITIONS, deliverWorkers),
    },
    redis: { marksBytes, attemptFiltersBytes, totalBytes: redisTotal },
    disk: { events, destinations, attempts, total: diskTotal },
    egressBytesPerSecond: deliveries * (input.eventBytes + REQUEST_OVERHEAD_BYTES),
    firstLimit: (limits[0] as { say: string }).say,
  };
}

function round(n: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}

export function fmtBytes(n: number): string {
  const units = ['B', 'KB', 'MB', 'GB', 'TB', 'PB'];
  let v = n;
  let u = 0;
  while (v >= 1000 && u < units.length - 1) {
    v /= 1000;
    u++;
  }
  return `${v >= 100 || u === 0 ? Math.round(v) : v.toFixed(1)} ${units[u]}`;
}
