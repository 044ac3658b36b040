import assert from 'node:assert/strict';
import { test } from 'node:test';
import { classify } from './failures.ts';
import { parseStatusRule, type StatusRange, statusRuleProblems } from './statusRules.ts';

const rules = (retryOn: Array<number | string>, deadLetterOn: Array<number | string>) => ({
  retryOn: retryOn.map(parseStatusRule) as StatusRange[],
  deadLetterOn: deadLetterOn.map(parseStatusRule) as StatusRange[],
});

test('rules are statuses, ranges or classes', () => {
  assert.deepEqual(parseStatusRule(409), [409, 409]);
  assert.deepEqual(parseStatusRule('500-504'), [500, 504]);
  assert.deepEqual(parseStatusRule('4XX'), [400, 499]);
  for (const bad of ['abc', '600', '504-500', '6xx', 42])
    assert.equal(typeof parseStatusRule(bad), 'string', String(bad));
});

test('a destination retries its retryOn and dead-letters its deadLetterOn; the defaults hold elsewhere', () => {
  const own = rules([409, '423-424'], [503]);
  assert.deepEqual(classify({ status: 409, latencyMs: 1 }, 0, own), { kind: 'transient', ambiguous: false });
  assert.deepEqual(classify({ status: 424, latencyMs: 1 }, 0, own), { kind: 'transient', ambiguous: false });
  assert.deepEqual(classify({ status: 503, retryAfter: '5', latencyMs: 1 }, 0, own), {
    kind: 'permanent',
    errorClass: 'permanent',
  });
  assert.deepEqual(classify({ status: 500, latencyMs: 1 }, 0, own), { kind: 'transient', ambiguous: false });
  assert.deepEqual(classify({ status: 422, latencyMs: 1 }, 0, own), {
    kind: 'permanent',
    errorClass: 'permanent',
  });
  assert.deepEqual(classify({ status: 409, latencyMs: 1 }, 0), {
    kind: 'permanent',
    errorClass: 'permanent',
  });
});

test('a retried 429 still honours Retry-After; no answer is untouched by the rules', () => {
  const own = rules(['4xx'], []);
  assert.deepEqual(classify({ status: 429, retryAfter: '3', latencyMs: 1 }, 0, own), {
    kind: 'transient',
    ambiguous: false,
    retryAfterMs: 3000,
  });
  assert.deepEqual(classify({ errorCode: 'TIMEOUT', latencyMs: 1 }, 0, own), {
    kind: 'transient',
    ambiguous: true,
  });
});

test('contradictions are problems: a 2xx in either list, a status in both', () => {
  assert.deepEqual(statusRuleProblems(rules([409], [503])), []);
  const problems = statusRuleProblems(rules(['2xx', 409], ['400-410', 204]));
  assert.deepEqual(
    problems.map((p) => `${p.list}[${p.index}]`),
    ['retryOn[0]', 'deadLetterOn[1]', 'deadLetterOn[0]', 'deadLetterOn[1]'],
  );
  assert.match(problems[2]?.problem ?? '', /400-410 is also in retryOn \(409\)/);
});
