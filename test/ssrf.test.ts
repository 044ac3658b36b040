// The SSRF guard: with network.allowPrivateAddresses false, a destination on a loopback IP
// literal or on a name that resolves to loopback receives nothing; the event is dead-lettered
// as `forbidden` and the attempt records FORBIDDEN_ADDRESS. Plus pure checks of the address
// classifier (no traffic to any non-loopback address).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { KafkaMessage } from 'kafkajs';
import { headerString } from '../src/kafka/headers.ts';
import { topicNames } from '../src/kafka/topics.ts';
import { isForbiddenAddress } from '../src/net/addressGuard.ts';
import { type RunningCourier, startCourier } from './helpers/courier.ts';
import { retryTopics, topicMessageCount, waitAllCommitted } from './helpers/dlq.ts';
import { eventJson } from './helpers/measure.ts';
import { type Receiver, startReceiver } from './helpers/receiver.ts';
import { produceRaw, provision, readTopic, testConfig, waitFor } from './helpers/stack.ts';

test('isForbiddenAddress blocks loopback, private, link-local and ULA addresses, allows public ones', () => {
  for (const address of [
    '127.0.0.1',
    '10.1.2.3',
    '169.254.169.254',
    '::1',
    '::ffff:127.0.0.1',
    '::ffff:7f00:1', // the same, as URL parsing normalises it
    'fd00::1',
    '::127.0.0.1', // IPv4-compatible
    '64:ff9b::a9fe:a9fe', // NAT64 of 169.254.169.254
    '64:ff9b::10.0.0.1',
    '2002:7f00:1::1', // 6to4 of 127.0.0.1
    '2002:c0a8:101::', // 6to4 of 192.168.1.1
  ]) {
    assert.equal(isForbiddenAddress(address), true, `${address} is forbidden`);
  }
  for (const address of [
    '8.8.8.8',
    '2001:4860:4860::8888',
    '::ffff:8.8.8.8',
    '64:ff9b::808:808', // NAT64 of 8.8.8.8: an IPv6-only network reaching a public host
    '2002:808:808::1',
  ]) {
    assert.equal(isForbiddenAddress(address), false, `${address} is allowed`);
  }
});

test('destinations on loopback receive nothing and their events are dead-lettered as forbidden', async () => {
  let receiver: Receiver | undefined;
  let courier: RunningCourier | undefined;
  try {
    receiver = await startReceiver();
    const r = receiver;
    const config = testConfig(
      [
        { id: 'by-ip', url: `http://127.0.0.1:${r.port}/hook` },
        { id: 'by-name', url: `http://localhost:${r.port}/hook` },
      ],
      { network: { allowPrivateAddresses: false } },
    );
    assert.equal(config.network.allowPrivateAddresses, false);
    await provision(config);
    courier = await startCourier(config);
    const c = courier;

    const id = 'evt-ssrf-1';
    await produceRaw(config, [{ key: id, value: eventJson(id) }]);

    const destinations = ['by-ip', 'by-name'];
    await waitFor(
      () =>
        destinations.every((d) =>
          c.attempts.some((a) => a.destination === d && a.eventId === id && a.outcome === 'dlq'),
        ),
      { message: 'both destinations dead-lettered the event', timeoutMs: 20_000 },
    );

    for (const d of destinations) {
      const attempts = c.attempts.filter((a) => a.destination === d && a.eventId === id);
      assert.deepEqual(
        attempts.map((a) => [a.attempt, a.outcome, a.errorCode, a.errorClass]),
        [[1, 'dlq', 'FORBIDDEN_ADDRESS', 'forbidden']],
        `${d}: one attempt, FORBIDDEN_ADDRESS, dead-lettered at once (no retries)`,
      );

      const dlq: KafkaMessage[] = await readTopic(config, topicNames(config).dlq(d), {
        count: 1,
        timeoutMs: 15_000,
      });
      assert.equal(dlq.length, 1, `${d}: one message on its DLQ`);
      const [letter] = dlq as [KafkaMessage];
      assert.equal(
        headerString(letter.headers, 'courier-error-class'),
        'forbidden',
        `${d}: error class forbidden`,
      );
      assert.equal(headerString(letter.headers, 'courier-event-id'), id);
      assert.equal(headerString(letter.headers, 'courier-destination'), d);
      assert.match(headerString(letter.headers, 'courier-last-error') ?? '', /^FORBIDDEN_ADDRESS/);
      assert.equal(JSON.parse(letter.value?.toString('utf8') ?? '{}').id, id, `${d}: the event body is kept`);
    }

    // Each destination's message finished and committed, with no retry scheduled: nothing can
    // still reach the loopback receiver.
    for (const d of destinations) await waitAllCommitted(config, d);
    assert.equal(await topicMessageCount(config, retryTopics(config)), 0, 'no retry was scheduled');
    assert.equal(r.requests.length, 0, 'the loopback receiver got no request');
  } finally {
    await courier?.stop();
    await receiver?.close();
  }
});
