// What one delivery costs, as measured by the benchmark (`npm run bench` writes this file after a
// run whose courier phase measured CPU, Redis and record sizes): the figures `courier capacity`
// multiplies out. Do not edit by hand; run the bench (see bench/README.md).
import type { CapacityCosts } from './capacity.ts';

export const MEASURED_COSTS: CapacityCosts = {
  measured: '2026-12-02T08:22:00Z',
  commit: 'c4a9470',
  command: 'BENCH_COURIER_ARGS="--workers 1" npm run bench (router CPU: the router phase of 2026-12-07)',
  cpuMsPerDelivery: 0.314,
  routerCpuMsPerRecord: 0.0422,
  redisBytesPerMark: 21.4,
  redisBytesPerAttemptFilter: 2.5,
  recordBytes: { event: 426, destination: 305, attempt: 419, eventValue: 352 },
};
