import assert from 'node:assert/strict';
import { test } from 'node:test';
import { statusClass } from '../policy/failures.ts';
import { PipelineEmitter } from '../telemetry/events.ts';
import { CourierMetrics } from './metrics.ts';

async function value(m: CourierMetrics, name: string, labels: Record<string, string>): Promise<number> {
  const metric = (await m.registry.getMetricsAsJSON()).find((x) => name.startsWith(x.name));
  const found = metric?.values.find(
    (v) =>
      ((v as { metricName?: string }).metricName ?? metric.name) === name &&
      Object.entries(labels).every(([k, want]) => String((v.labels as Record<string, unknown>)[k]) === want),
  );
  return found?.value ?? Number.NaN;
}

test('metrics follow the pipeline events, labelled by destination', async () => {
  const now = 1_800_000_000_000;
  const m = new CourierMetrics({ processMetrics: false, now: () => now });
  const events = new PipelineEmitter();
  const unsubscribe = m.subscribe(events);
  m.registerDestination('crm');
  const base = {
    destination: 'crm',
    at: new Date(now).toISOString(),
    replay: false,
    eventType: 'user.created',
  };
  events.emit('attempt', {
    ...base,
    eventId: 'a',
    attempt: 1,
    latencyMs: 20,
    status: 200,
    outcome: 'delivered',
    producedAt: new Date(now - 1500).toISOString(),
  });
  events.emit('attempt', { ...base, eventId: 'b', attempt: 1, latencyMs: 30, status: 503, outcome: 'retry' });
  events.emit('attempt', {
    ...base,
    eventId: 'b',
    attempt: 2,
    latencyMs: 10,
    errorCode: 'ECONNREFUSED',
    outcome: 'dlq',
  });
  events.emit('dlq', { destination: 'crm', eventId: 'b', errorClass: 'exhausted' });
  events.emit('routed', { eventId: 'a', eventType: 'user.created', destinations: ['crm'] });
  events.emit('routed', { eventId: 'x', eventType: 'nobody.cares', destinations: [] });
  events.emit('invalid', { reason: 'EVENT_MISSING_FIELD', message: 'no id', partition: 0, offset: '1' });
  events.emit('breaker-open', { destination: 'crm' });
  events.emit('paused', { destination: 'crm', reason: 'auth-rejected' });
  events.emit('rate-limited', { destination: 'crm', waitedMs: 250, permits: 1 });

  assert.equal(
    await value(m, 'courier_attempts_total', {
      destination: 'crm',
      outcome: 'delivered',
      status_class: '2xx',
    }),
    1,
  );
  assert.equal(
    await value(m, 'courier_attempts_total', { destination: 'crm', outcome: 'retry', status_class: '5xx' }),
    1,
  );
  assert.equal(
    await value(m, 'courier_attempts_total', { destination: 'crm', outcome: 'dlq', status_class: 'none' }),
    1,
  );
  assert.equal(await value(m, 'courier_retries_scheduled_total', { destination: 'crm' }), 1);
  assert.equal(
    await value(m, 'courier_dead_letters_total', { destination: 'crm', error_class: 'exhausted' }),
    1,
  );
  assert.equal(
    await value(m, 'courier_first_attempts_total', {
      destination: 'crm',
      event_type: 'user.created',
      result: 'success',
    }),
    1,
  );
  assert.equal(
    await value(m, 'courier_first_attempts_total', {
      destination: 'crm',
      event_type: 'user.created',
      result: 'failure',
    }),
    1,
  );
  assert.equal(await value(m, 'courier_delivery_latency_seconds_sum', { destination: 'crm' }), 1.5);
  assert.equal(await value(m, 'courier_request_duration_seconds_count', { destination: 'crm' }), 3);
  assert.equal(await value(m, 'courier_router_routed_total', { destination: 'crm' }), 1);
  assert.equal(await value(m, 'courier_router_unmatched_total', {}), 1);
  assert.equal(await value(m, 'courier_router_invalid_total', { reason: 'EVENT_MISSING_FIELD' }), 1);
  assert.equal(await value(m, 'courier_circuit_breaker_state', { destination: 'crm' }), 2);
  assert.equal(
    await value(m, 'courier_destination_paused', { destination: 'crm', reason: 'auth-rejected' }),
    1,
  );
  assert.equal(await value(m, 'courier_rate_limit_wait_seconds_total', { destination: 'crm' }), 0.25);
  events.emit('resumed', { destination: 'crm' });
  assert.equal(await value(m, 'courier_destination_paused', { destination: 'crm', reason: '' }), 0);
  assert.ok(
    Number.isNaN(
      await value(m, 'courier_destination_paused', { destination: 'crm', reason: 'auth-rejected' }),
    ),
  );
  unsubscribe();
  assert.equal(events.listenerCount('attempt'), 0);
});

test('status classes', () => {
  assert.deepEqual(
    [statusClass(204), statusClass(301), statusClass(429), statusClass(503), statusClass(undefined)],
    ['2xx', '3xx', '4xx', '5xx', 'none'],
  );
});

test('series per destination and the cost of a scrape at 100 destinations', async () => {
  const one = new CourierMetrics({ processMetrics: false });
  const empty = (await one.registry.metrics()).split('\n').filter((l) => l && !l.startsWith('#')).length;
  one.registerDestination('d0');
  const perDestination =
    (await one.registry.metrics()).split('\n').filter((l) => l && !l.startsWith('#')).length - empty;
  const m = new CourierMetrics({ processMetrics: false });
  const events = new PipelineEmitter();
  m.subscribe(events);
  for (let i = 0; i < 100; i++) {
    const destination = `dest-${i}`;
    m.registerDestination(destination);
    for (const [outcome, status] of [
      ['delivered', 200],
      ['retry', 503],
      ['dlq', 400],
    ] as const) {
      events.emit('attempt', {
        eventId: 'e',
        destination,
        attempt: 1,
        at: new Date().toISOString(),
        latencyMs: 12,
        status,
        outcome,
        replay: false,
        eventType: 'user.created',
        producedAt: new Date().toISOString(),
      });
    }
    events.emit('dlq', { destination, eventId: 'e', errorClass: 'permanent' });
  }
  const runs = 20;
  const started = performance.now();
  let body = '';
  for (let i = 0; i < runs; i++) body = await m.registry.metrics();
  const ms = (performance.now() - started) / runs;
  const series = body.split('\n').filter((l) => l && !l.startsWith('#')).length;
  console.log(
    `# series: ${perDestination} per idle destination; 100 active destinations: ${series} series, ${(body.length / 1024).toFixed(0)} KiB, ${ms.toFixed(1)} ms per scrape`,
  );
  assert.ok(perDestination > 0 && series > 100 * perDestination);
});

test('a cluster scrape sums counters and takes the maximum of shared-state gauges', async () => {
  const { AggregatorRegistry } = await import('prom-client');
  const workers = [
    new CourierMetrics({ processMetrics: false }),
    new CourierMetrics({ processMetrics: false }),
  ];
  for (const [i, w] of workers.entries()) {
    w.registerDestination('crm');
    w.routed.inc({ destination: 'crm' }, 3 + i);
    // Each worker read the same offsets: the lag is 7, not 14.
    w.lag.set({ destination: 'crm' }, 7);
  }
  const merged = AggregatorRegistry.aggregate(
    await Promise.all(workers.map((w) => w.registry.getMetricsAsJSON())),
  );
  const text = await merged.metrics();
  assert.match(text, /^courier_router_routed_total\{destination="crm"\} 7$/m);
  assert.match(text, /^courier_consumer_lag_messages\{destination="crm"\} 7$/m);
});
