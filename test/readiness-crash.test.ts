// /readyz turns false when a role's consumer has crashed: a real crash (as in
// never-stall-process.test.ts), the destination topic's max.message.bytes lowered while Courier
// runs, so the router's next produce is refused (MESSAGE_TOO_LARGE, not retriable) and kafkajs
// gives its consumer up. Readiness (what /readyz answers) turns false, naming the crashed consumer.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { topicNames } from '../src/kafka/topics.ts';
import type { Readiness } from '../src/observability/server.ts';
import { startCourier } from './helpers/courier.ts';
import { eventJson } from './helpers/measure.ts';
import { startReceiver } from './helpers/receiver.ts';
import { produceRaw, provision, testConfig, waitFor, withAdmin } from './helpers/stack.ts';

test('readiness is false, naming the crashed consumer', async () => {
  const receiver = await startReceiver();
  const config = testConfig([{ id: 'crm', url: receiver.url }]);
  await provision(config);
  const courier = await startCourier(config);
  try {
    const port = courier.app.observability?.port as number;
    const readyz = async (): Promise<{ status: number; body?: Readiness }> => {
      try {
        const res = await fetch(`http://127.0.0.1:${port}/readyz`);
        return { status: res.status, body: (await res.json()) as Readiness };
      } catch {
        return { status: 0 };
      }
    };
    await produceRaw(config, [{ key: 'k', value: eventJson('evt-before') }]);
    await waitFor(() => receiver.accepted.length >= 1, { timeoutMs: 30_000, message: 'first delivery' });
    await waitFor(async () => (await readyz()).status === 200, { timeoutMs: 15_000, message: 'ready' });
    const ready = await readyz();
    assert.equal(ready.body?.checks.router?.ok, true);
    assert.equal(ready.body?.checks['deliver:crm']?.ok, true);

    await withAdmin(config, (admin) =>
      admin.alterConfigs({
        validateOnly: false,
        resources: [
          {
            type: 2,
            name: topicNames(config).dest('crm'),
            configEntries: [{ name: 'max.message.bytes', value: '1024' }],
          },
        ],
      }),
    );
    await produceRaw(config, [{ key: 'k', value: eventJson('evt-big', 't', { pad: 'x'.repeat(8_000) }) }]);
    // The app stops itself on such a crash (the endpoint last); readiness is read the moment the
    // crash is reported, so the check does not race the shutdown.
    let timer: NodeJS.Timeout | undefined;
    const crash = await Promise.race([
      courier.app.fatal,
      new Promise<undefined>((resolve) => {
        timer = setTimeout(() => resolve(undefined), 90_000);
      }),
    ]);
    clearTimeout(timer);
    assert.ok(crash, 'the router consumer crashed');
    const seen = await courier.app.observability?.readiness();
    assert.equal(seen?.ready, false);
    assert.equal(seen?.checks.router?.ok, false);
    assert.match(seen?.checks.router?.detail ?? '', /crashed/);
  } finally {
    await courier.stop();
    await receiver.close();
  }
});
