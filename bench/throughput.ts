// `npm run bench`: deliveries per second, events → HTTP, to a fast local receiver. Produces N
// events first, then starts Courier and times until the receiver has accepted every one.
// Prints figures; asserts nothing (timings belong here, not in tests).
import { CourierApp } from '../src/app.ts';
import { startReceiver } from '../test/helpers/receiver.ts';
import { produceRaw, provision, testConfig, testLogger, waitFor } from '../test/helpers/stack.ts';

const N = Number(process.env.BENCH_EVENTS ?? 5000);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 64);

const receiver = await startReceiver();
const config = testConfig([{ id: 'fast', url: receiver.url, concurrency: CONCURRENCY, partitions: 6 }], {
  kafka: { brokers: ['127.0.0.1:9092'], partitions: { events: 6, destination: 6 } },
});
await provision(config);
for (let i = 0; i < N; i += 1000) {
  await produceRaw(
    config,
    Array.from({ length: Math.min(1000, N - i) }, (_, j) => ({
      key: `k${(i + j) % 500}`,
      value: JSON.stringify({
        specversion: '1.0',
        id: `bench-${i + j}`,
        type: 'bench.event',
        source: 'bench',
        data: { n: i + j },
      }),
    })),
  );
}
const rssBefore = process.memoryUsage().rss;
const app = new CourierApp({ config, logger: testLogger() });
const started = performance.now();
await app.start();
await waitFor(() => receiver.accepted.length >= N, { timeoutMs: 600_000, intervalMs: 50 });
const seconds = (performance.now() - started) / 1000;
const rssAfter = process.memoryUsage().rss;
await app.stop();
await receiver.close();
console.log(`events: ${N}, destination concurrency: ${CONCURRENCY}`);
console.log(
  `delivered: ${receiver.accepted.length} (duplicates: ${receiver.requests.length - new Set(receiver.requests.map((r) => r.json.id)).size})`,
);
console.log(`time from start to last delivery: ${seconds.toFixed(2)} s (includes consumer group joins)`);
console.log(
  `throughput: ${(N / seconds).toFixed(0)} deliveries/s (router + delivery + Redis + HTTP, one process, receiver in the same process)`,
);
console.log(
  `rss: ${(rssBefore / 2 ** 20).toFixed(0)} MiB before, ${(rssAfter / 2 ** 20).toFixed(0)} MiB after`,
);
