import assert from 'node:assert/strict';
import { test } from 'node:test';
import { InvalidEventError } from '../errors.ts';
import { idProblem, MAX_DATA_DEPTH, nestsDeeperThan, toCloudEvent } from './cloudEvent.ts';

const base = { specversion: '1.0', type: 't', source: 's' };

function nested(depth: number): unknown {
  let v: unknown = 1;
  for (let i = 0; i < depth; i++) v = { a: v };
  return v;
}

function reason(fn: () => unknown): string | undefined {
  try {
    fn();
    return undefined;
  } catch (err) {
    assert.ok(err instanceof InvalidEventError);
    return `${err.code}: ${err.message}`;
  }
}

test('ids that are valid header values pass', () => {
  for (const id of [
    'evt-1',
    'a',
    'msg_2KWPBgLlAfxdpx2AI54pPJ85f4W',
    'order 42 created',
    '~!@#$%^&*()',
    'x'.repeat(256),
  ]) {
    assert.equal(idProblem(id), undefined, id);
    assert.equal(toCloudEvent({ ...base, id }).id, id);
  }
});

test('ids that cannot be a header value are EVENT_BAD_FIELD, naming the problem', () => {
  const cases: Array<[string, string]> = [
    ['evt\n1', 'U+000A'],
    ['evt\r\nx-injected: 1', 'U+000D'],
    ['evt-🚀', 'U+1F680'],
    ['évt', 'U+00E9'],
    ['evt\uFFFD', 'invalid UTF-8'],
    ['evt\u0000', 'U+0000'],
    ['evt\t1', 'U+0009'],
    ['evt\u007f', 'U+007F'],
    [' evt', 'space'],
    ['evt ', 'space'],
    ['x'.repeat(257), 'longer than 256'],
  ];
  for (const [id, mention] of cases) {
    const r = reason(() => toCloudEvent({ ...base, id }));
    assert.ok(r?.startsWith('EVENT_BAD_FIELD'), `${JSON.stringify(id)}: ${r}`);
    assert.ok(r?.includes(mention), `${JSON.stringify(id)} mentions ${mention}: ${r}`);
  }
});

test('data nested deeper than the limit is EVENT_TOO_DEEP, without recursion', () => {
  assert.equal(nestsDeeperThan(nested(MAX_DATA_DEPTH - 1), MAX_DATA_DEPTH), false);
  assert.equal(nestsDeeperThan(nested(MAX_DATA_DEPTH + 1), MAX_DATA_DEPTH), true);
  assert.equal(nestsDeeperThan([[[1]]], 2), true);
  assert.equal(nestsDeeperThan('flat', 1), false);
  // 100,000 levels: JSON.stringify would throw RangeError; the check does not.
  const deep = JSON.parse(`${'['.repeat(100_000)}${']'.repeat(100_000)}`);
  assert.equal(nestsDeeperThan(deep, MAX_DATA_DEPTH), true);
  assert.match(reason(() => toCloudEvent({ ...base, id: 'e', data: deep })) ?? '', /^EVENT_TOO_DEEP/);
  assert.match(
    reason(() =>
      toCloudEvent({ ...base, id: 'e', data: JSON.stringify(nested(200)) }, { dataIsJsonText: true }),
    ) ?? '',
    /^EVENT_TOO_DEEP/,
    'Avro data (JSON text) too',
  );
  assert.deepEqual(toCloudEvent({ ...base, id: 'e', data: nested(10) }).data, nested(10));
});

test('extension attributes pass through as they came; data stays data', async () => {
  const { toCloudEvent, extensionsOf } = await import('./cloudEvent.ts');
  const event = toCloudEvent({
    specversion: '1.0',
    id: 'e1',
    type: 'order.created',
    source: 'shop',
    tenant: 'acme',
    traceparent: '00-abc-def-01',
    priority: 3,
    dataschema: 'https://schemas.example.com/order',
    data: { total: 5 },
  });
  assert.deepEqual(extensionsOf(event), { tenant: 'acme', traceparent: '00-abc-def-01', priority: 3 });
  assert.equal(event.dataschema, 'https://schemas.example.com/order');
  assert.deepEqual(JSON.parse(JSON.stringify(event)), {
    specversion: '1.0',
    id: 'e1',
    type: 'order.created',
    source: 'shop',
    tenant: 'acme',
    traceparent: '00-abc-def-01',
    priority: 3,
    dataschema: 'https://schemas.example.com/order',
    data: { total: 5 },
  });
  const deep: Record<string, unknown> = {};
  let at = deep;
  for (let i = 0; i < 70; i++) at = at.x = {} as Record<string, unknown>;
  assert.throws(
    () => toCloudEvent({ id: 'e2', type: 't', source: 's', nested: deep }),
    /"nested" nests deeper than 64 levels/,
  );
});
