// `ordering: strict`: two instances and a strict destination whose receiver fails the second event
// of half the keys twice (503). For every key the receiver gets the events in produced order, the
// retried ones included; a third instance joining and then one leaving (rebalances) in the middle
// change nothing. The keys without failures are not held back by the failing ones: how much, the
// test prints. A relaxed destination beside it, fed the same events, shows what strict prevents.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { type RunningCourier, startCourier } from './helpers/courier.ts';
import { eventJson } from './helpers/measure.ts';
import { type ReceivedRequest, startReceiver } from './helpers/receiver.ts';
import { produceRaw, provision, testConfig, waitFor } from './helpers/stack.ts';

const running: RunningCourier[] = [];
after(async () => {
  await Promise.all(running.map((c) => c.stop()));
});

const KEYS = Array.from({ length: 12 }, (_, i) => `key-${i}`);
const FAILING = new Set(KEYS.slice(0, 6));
const PER_KEY = 12;

/** The events of one key the receiver accepted (2xx), each the first time, in arrival order. */
function arrivals(requests: ReceivedRequest[], key: string): number[] {
  const seen = new Set<string>();
  const out: number[] = [];
  for (const r of requests) {
    const data = r.json.data as { key: string; seq: number };
    if (data.key !== key || r.headers['webhook-id'] === undefined || seen.has(r.json.id)) continue;
    seen.add(r.json.id);
    out.push(data.seq);
  }
  return out;
}

test('strict ordering: each key in produced order across retries and rebalances; other keys go on', async () => {
  // The second event of each failing key is answered 503 twice, then 200.
  const behaviour = (r: ReceivedRequest) => {
    const data = r.json.data as { key: string; seq: number };
    return { status: FAILING.has(data.key) && data.seq === 1 && r.nth <= 2 ? 503 : 200 };
  };
  const [strictAt, relaxedAt] = await Promise.all([startReceiver(behaviour), startReceiver(behaviour)]);
  // A retry waits 300 ms: long enough for a relaxed destination's later events to overtake it.
  const retry = { baseDelayMs: 300, maxDelayMs: 1000, maxAttempts: 8, jitter: 0 };
  const config = testConfig([
    { id: 'strict', url: strictAt.url, ordering: 'strict', concurrency: 8, retry },
    { id: 'relaxed', url: relaxedAt.url, concurrency: 8, retry },
  ]);
  await provision(config);
  running.push(await startCourier(config), await startCourier(config));
  const events = Array.from({ length: PER_KEY }, (_, seq) =>
    KEYS.map((key) => ({
      key,
      value: eventJson(`${key}-${seq}`, 'ledger.entry', { key, seq }),
    })),
  ).flat();
  // Half now, and the rest once a third instance joined (a rebalance in the middle).
  const producedAt = new Map<string, number>();
  const produce = async (part: typeof events) => {
    const at = Date.now();
    for (const e of part) producedAt.set(JSON.parse(e.value).id, at);
    await produceRaw(config, part);
  };
  await produce(events.slice(0, events.length / 2));
  await waitFor(() => strictAt.accepted.length >= 20, { message: 'deliveries under way', timeoutMs: 30_000 });
  running.push(await startCourier(config));
  await produce(events.slice(events.length / 2));
  // And one of the first two leaves gracefully (another rebalance).
  await (running.shift() as RunningCourier).stop();

  const delivered = (at: typeof strictAt) => new Set(at.accepted.map((r) => r.json.id)).size;
  await waitFor(() => delivered(strictAt) === events.length && delivered(relaxedAt) === events.length, {
    message: () => `every event at both (strict ${delivered(strictAt)}, relaxed ${delivered(relaxedAt)})`,
    timeoutMs: 60_000,
  });

  const inOrder = Array.from({ length: PER_KEY }, (_, i) => i);
  for (const key of KEYS)
    assert.deepEqual(arrivals(strictAt.accepted, key), inOrder, `strict: ${key} in order`);
  const relaxedOutOfOrder = [...FAILING].filter(
    (key) => JSON.stringify(arrivals(relaxedAt.accepted, key)) !== JSON.stringify(inOrder),
  );
  assert.ok(relaxedOutOfOrder.length > 0, 'the scenario does put a relaxed destination out of order');
  // Each failing key's second event was retried: only strict ordering kept it ahead of the third.
  const retried = [...FAILING].map((key) => strictAt.requests.filter((r) => r.json.id === `${key}-1`).length);
  assert.ok(
    retried.every((n) => n >= 3),
    `the second event of each failing key was answered 503 twice, then delivered (${retried})`,
  );

  // How much the failing keys held the others back: produce → first arrival of each event.
  const latency = (keys: Iterable<string>) => {
    const wanted = new Set(keys);
    const firstAt = new Map<string, number>();
    for (const r of strictAt.accepted) if (!firstAt.has(r.json.id)) firstAt.set(r.json.id, r.at);
    const xs = [...firstAt]
      .filter(([id]) => wanted.has(id.replace(/-\d+$/, '')))
      .map(([id, at]) => at - (producedAt.get(id) as number))
      .sort((a, b) => a - b);
    return { p50: xs[Math.floor(xs.length / 2)], max: xs[xs.length - 1] };
  };
  const clean = latency(KEYS.filter((k) => !FAILING.has(k)));
  const failing = latency(FAILING);
  console.log(
    `strict ordering: keys without failures p50 ${clean.p50} ms, max ${clean.max} ms from produce to receiver; failing keys p50 ${failing.p50} ms, max ${failing.max} ms; relaxed: ${relaxedOutOfOrder.length} of ${FAILING.size} failing keys arrived out of order`,
  );
  await Promise.all([strictAt.close(), relaxedAt.close()]);
});
