// The cap on retry delays (issue 7 item 8): a destination's retry.maxDelayMs may not exceed the
// largest retry tier, reported by path; unset, it is 1 h or the largest tier when that is shorter.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigError } from '../errors.ts';
import { parseConfig } from './load.ts';

const SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';

const destination = (id: string, retry?: Record<string, number>) => ({
  id,
  url: 'https://hooks.example.com/x',
  secrets: [SECRET],
  ...(retry ? { retry } : {}),
});

function problemsOf(document: unknown): string[] {
  try {
    parseConfig(document, { source: 'test', env: {} });
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected ConfigError, got ${String(err)}`);
    return err.problems;
  }
  assert.fail('expected the configuration to be rejected');
}

test('the default maxDelayMs equals the default largest tier', () => {
  const config = parseConfig(
    { kafka: { brokers: ['localhost:9092'] }, destinations: [destination('crm')] },
    { source: 'test', env: {} },
  );
  assert.equal(config.destinations[0]?.retry.maxDelayMs, 3_600_000);
  assert.equal(config.retryTiers.at(-1), '1h');
});

test('a maxDelayMs beyond the largest tier is listed by path; an unset one takes the largest tier', () => {
  const document = {
    kafka: { brokers: ['localhost:9092'] },
    retryTiers: ['30s', '10m'],
    destinations: [
      destination('ok', { maxDelayMs: 600_000 }),
      destination('long', { maxDelayMs: 600_001 }),
      destination('defaulted'),
    ],
  };
  const problems = problemsOf(document);
  assert.deepEqual(
    problems.map((p) => p.split(':')[0]),
    ['destinations[1].retry.maxDelayMs'],
    problems.join('\n'),
  );
  assert.match(problems[0] ?? '', /largest retry tier \(600000 ms\)/);
});

test('an unset maxDelayMs defaults to the largest tier when that is under 1 h', () => {
  const config = parseConfig(
    {
      kafka: { brokers: ['localhost:9092'] },
      retryTiers: ['30s', '10m'],
      destinations: [destination('crm')],
    },
    { source: 'test', env: {} },
  );
  assert.equal(config.destinations[0]?.retry.maxDelayMs, 600_000);
});
