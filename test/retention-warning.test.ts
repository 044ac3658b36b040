// DESIGN §2: Courier warns when a destination's oldest undelivered message ages past half of its
// topic's retention, so that a paused destination is dealt with before Kafka deletes its backlog.
// Here retention is 3 s: the destination paused by a 401 raises the warning within seconds; a
// healthy destination on the same events does not.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { startCourier } from './helpers/courier.ts';
import { eventJson } from './helpers/measure.ts';
import { startReceiver } from './helpers/receiver.ts';
import { produceRaw, provision, testConfig, waitFor } from './helpers/stack.ts';

const RETENTION_MS = 3000;

test('a paused destination whose backlog ages past half the retention raises a warning', async () => {
  const locked = await startReceiver(() => ({ status: 401 }));
  const healthy = await startReceiver();
  after(() => Promise.all([locked.close(), healthy.close()]).then(() => {}));
  const config = testConfig(
    [
      { id: 'locked', url: locked.url },
      { id: 'healthy', url: healthy.url },
    ],
    { kafka: { brokers: ['127.0.0.1:9092'], retentionMs: RETENTION_MS } },
  );
  await provision(config);
  const courier = await startCourier(config);
  after(() => courier.stop());
  const risks: Array<{ destination: string; ageMs: number; retentionMs: number }> = [];
  courier.app.events.on('retention-risk', (r) => risks.push(r));

  const producedAt = Date.now();
  await produceRaw(
    config,
    ['r1', 'r2', 'r3'].map((id) => ({ key: id, value: eventJson(id) })),
  );
  await waitFor(() => healthy.accepted.length === 3, { message: 'healthy deliveries' });
  await waitFor(() => risks.some((r) => r.destination === 'locked'), {
    timeoutMs: 15_000,
    message: 'a retention warning for the paused destination',
  });

  const risk = risks.find((r) => r.destination === 'locked')!;
  assert.equal(risk.retentionMs, RETENTION_MS);
  assert.ok(risk.ageMs >= RETENTION_MS / 2, `age ${risk.ageMs} ms is past half the retention`);
  assert.ok(risk.ageMs <= Date.now() - producedAt + 1000, `age ${risk.ageMs} ms is the backlog's real age`);
  assert.deepEqual(
    risks.filter((r) => r.destination !== 'locked'),
    [],
    'the healthy destination has nothing old',
  );
  assert.equal(locked.accepted.length, 0, 'the paused destination received nothing');
});
