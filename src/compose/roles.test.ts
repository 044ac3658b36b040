import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseConfig } from '../config/load.ts';
import { topicPlan } from '../kafka/topics.ts';
import { topicsForRoles } from './roles.ts';

const config = parseConfig(
  {
    kafka: { brokers: ['localhost:9092'], topicPrefix: 'c', eventsTopic: 'ev' },
    retryTiers: ['1s', '1m'],
    destinations: [
      { id: 'crm', url: 'https://example.com/h', secrets: ['whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw'] },
    ],
  },
  { source: 'test', env: {} },
);

test('each role checks the topics it reads or writes', () => {
  const plan = topicPlan(config);
  assert.deepEqual(topicsForRoles(plan, ['router']), ['ev', 'c.events.invalid', 'c.dest.crm']);
  assert.deepEqual(topicsForRoles(plan, ['retry']), ['c.retry.1s', 'c.retry.1m', 'c.dest.crm']);
  assert.deepEqual(topicsForRoles(plan, ['deliver']).sort(), [
    'c.attempts',
    'c.dest.crm',
    'c.dlq.crm',
    'c.retry.1m',
    'c.retry.1s',
  ]);
  assert.equal(topicsForRoles(plan, ['router', 'deliver', 'retry']).length, plan.length);
});
