// What one delivery costs, as measured by the benchmark (`npm run bench` writes this file after a
// run whose courier phase measured CPU, Redis and record sizes): the figures `courier capacity`
// multiplies out. Do not edit by hand; run the bench (see bench/README.md).
import type { CapacityCosts } from './capacity.ts';

export const MEASURED_COSTS: CapacityCosts = {
  measured: '2026-12-07T05:37:39.867Z',
  commit: '3157db5',
  command: 'BENCH_COURIER_ARGS="--workers 1" BENCH_SKIP=ceiling,plain,fanout,backlog,scaleout npm run bench',
  machine: '2 cores, load 3.4',
  workers: 1,
  cpuMsPerDelivery: 0.283,
  routerCpuMsPerRecord: 0.047,
  redisBytesPerMark: 21.4,
  redisBytesPerAttemptFilter: 27.8,
  recordBytes: {
    event: 417,
    destination: 605,
    attempt: 645,
    eventValue: 343,
  },
};
