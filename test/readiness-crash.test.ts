// /readyz turns false when a role's consumer has crashed: a real crash (as in
// never-stall-process.test.ts), the destination topic's max.message.bytes lowered while Courier
// runs, so the router's next produce is refused (MESSAGE_TOO_LARGE, not retriable) and kafkajs
// gives its consumer up. The endpoint keeps answering 503, naming the crashed consumer, while the
// app stops its other parts.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { topicNames } from '../src/kafka/topics.ts';
import type { Readiness } from '../src/observability/server.ts';
import { startCourier } from './helpers/courier.ts';
import { eventJson } from './helpers/measure.ts';
import { startReceiver } from './helpers/receiver.ts';
import { produceRaw, provision, testConfig, waitFor, withAdmin } from './helpers/stack.ts';

test('/readyz is 503 naming the crashed consumer', async () => {
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
    let seen: Readiness | undefined;
    await waitFor(
      async () => {
        const r = await readyz();
        if (r.status === 503 && r.body?.checks.router?.ok === false) seen = r.body;
        return seen !== undefined;
      },
      { timeoutMs: 90_000, intervalMs: 10, message: 'readyz 503 naming the router' },
    );
    assert.equal(seen?.ready, false);
    assert.match(seen?.checks.router?.detail ?? '', /crashed/);
  } finally {
    await courier.stop();
    await receiver.close();
  }
});
