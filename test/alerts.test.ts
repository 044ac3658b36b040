// The alert evaluator against the real Redis: several instances evaluating the same condition send
// one notice (the Lua script decides atomically), an active alert repeats no more often than
// `repeatMs`, a cleared one (clear for two evaluation intervals, so a flicker or a slightly stale
// view does not resolve and re-fire it) sends one resolved notice, each as a log line with a
// stable `alert` code. Also the configuration: an operator webhook needs a signing secret; the
// defaults of `observability`, `alerts` and the attempts topic's own 30-day retention.
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { parseConfig } from '../src/config/load.ts';
import { topicPlan } from '../src/kafka/topics.ts';
import { AlertEvaluator } from '../src/observability/alerts.ts';
import type { StatusReport, StatusRow } from '../src/observability/destinationStatus.ts';
import { createRedis } from '../src/redis/client.ts';
import { redisKeys } from '../src/redis/keys.ts';
import { createLogger } from '../src/telemetry/logger.ts';
import { BROKERS, testConfig, uniqueName } from './helpers/stack.ts';

function row(state: StatusRow['state'], deadLetters: number): StatusRow {
  return {
    destination: 'crm',
    state,
    deliveriesPerMinute: 0,
    attempts: 0,
    backlog: 0,
    oldestUndeliveredMs: 0,
    dlqDepth: deadLetters,
    deadLettersInWindow: deadLetters,
  };
}

function report(r: StatusRow, observedAt: number): StatusReport {
  return { at: new Date(observedAt).toISOString(), observedAt, destinations: [r], retryBacklog: {} };
}

test('three instances, one notice; repeats at most every repeatMs; one resolved notice', async () => {
  const config = testConfig([{ id: 'crm', url: 'http://127.0.0.1:9/hook' }], {
    // Resolving needs the condition clear for two evaluation intervals: 2 s here.
    alerts: { repeatMs: 60_000, evaluateIntervalMs: 1000 },
  });
  const lines: Array<{ level: number; alert?: string; type?: string; msg: string }> = [];
  const sink = new Writable({
    write(chunk, _enc, done) {
      for (const l of String(chunk).split('\n').filter(Boolean)) lines.push(JSON.parse(l));
      done();
    },
  });
  const logger = createLogger({ level: 'info', destination: sink });
  const clients = [1, 2, 3].map(() => createRedis(config.redis));
  let now = Date.now();
  const keys = redisKeys(config.kafka.topicPrefix);
  const instances = clients.map(
    (redis) => new AlertEvaluator({ config, redis, keys, logger, now: () => now }),
  );
  try {
    const evaluateAll = async (r: StatusRow) =>
      (await Promise.all(instances.map((i) => i.evaluate(report(r, now))))).flat();

    const fired = await evaluateAll(row('degraded', 2));
    assert.deepEqual(
      fired.map((n) => [n.alert, n.type]),
      [['dead-letters', 'courier.alert.firing']],
    );
    now += 30_000;
    assert.deepEqual(await evaluateAll(row('degraded', 2)), [], 'no repeat before repeatMs');
    now += 31_000;
    const repeated = await evaluateAll(row('degraded', 3));
    assert.deepEqual(
      repeated.map((n) => n.type),
      ['courier.alert.repeat'],
    );
    assert.equal(repeated[0]?.since, fired[0]?.since, 'a repeat keeps the time it fired');
    // An instance whose view is older than the last one applied cannot resolve or re-fire it.
    assert.deepEqual(await instances[0]?.evaluate(report(row('healthy', 0), now - 5000)), []);
    now += 1000;
    // Clear once, then back: a flicker is not resolved (and so not fired again).
    assert.deepEqual(await evaluateAll(row('healthy', 0)), [], 'not resolved at the first clear view');
    now += 500;
    assert.deepEqual(await evaluateAll(row('degraded', 1)), [], 'still the same alert');
    now += 500;
    assert.deepEqual(await evaluateAll(row('healthy', 0)), []);
    now += 1500;
    assert.deepEqual(await evaluateAll(row('healthy', 0)), [], 'clear for 1.5 s of the 2 s');
    now += 600;
    const resolved = await evaluateAll(row('healthy', 0));
    assert.deepEqual(
      resolved.map((n) => n.type),
      ['courier.alert.resolved'],
    );
    assert.deepEqual(await evaluateAll(row('healthy', 0)), [], 'resolved once');

    await new Promise<void>((resolve) => logger.flush(() => resolve()));
    const alertLines = lines.filter((l) => l.alert === 'dead-letters');
    assert.deepEqual(
      alertLines.map((l) => [l.level, l.type]),
      [
        [50, 'courier.alert.firing'],
        [50, 'courier.alert.repeat'],
        [40, 'courier.alert.resolved'],
      ],
    );
    assert.match(alertLines[0]?.msg ?? '', /^ALERT dead-letters: crm: 2 dead letter/);
  } finally {
    for (const c of clients) c.disconnect();
  }
});

test('an operator webhook needs a signing secret', () => {
  const base = { kafka: { brokers: BROKERS, topicPrefix: uniqueName('c') } };
  assert.throws(
    () => parseConfig({ ...base, alerts: { url: 'https://ops.example.com/a' } }, { source: 'test', env: {} }),
    /alerts\.secret/,
  );
  assert.throws(
    () =>
      parseConfig(
        {
          ...base,
          destinations: [
            {
              id: 'crm',
              url: 'https://crm.example.com/h',
              secrets: ['whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw'],
              alerts: { url: 'https://ops.crm.example.com/a' },
            },
          ],
        },
        { source: 'test', env: {} },
      ),
    /alerts\.secret/,
  );
  const ok = parseConfig({ ...base }, { source: 'test', env: {} });
  assert.equal(ok.observability.port, 9464);
  assert.equal(ok.observability.host, '127.0.0.1');
  assert.equal(ok.observability.statusPage, false);
  assert.equal(ok.kafka.attemptsRetentionMs, 30 * 86_400_000);
  const attempts = topicPlan(ok).find((t) => t.role === 'attempts');
  assert.equal(attempts?.configs['retention.ms'], String(30 * 86_400_000), 'the delivery log keeps 30 days');
  assert.equal(
    topicPlan(ok).find((t) => t.role === 'retry')?.configs['retention.ms'],
    String(14 * 86_400_000),
    'other topics keep kafka.retentionMs',
  );
  assert.equal(ok.alerts.thresholds.successRate, 0.95);
});
